using Microsoft.Extensions.Options;
using Orleans.Streams;
using Registry.Grains;

namespace Registry.Api.Events;

/// <summary>
/// Subscribes this process to <see cref="RegistryStreams.All"/> (explicitly, from the co-hosted
/// silo's client) and hands every event to each registered <see cref="IRegistryEventSubscriber"/>,
/// in order, once per event id. Without subscribers it does not subscribe at all. Where the
/// repository's outbox waits for it (embedded mode, <see cref="EventOutboxOptions.AwaitAcknowledgements"/>),
/// an event every subscriber has been offered is acknowledged to its repository.
/// </summary>
public sealed class RegistryEventDispatcher : IHostedService, IDisposable
{
    /// <summary>How many recent event ids are remembered to drop redeliveries.</summary>
    public const int DedupeWindow = 10_000;

    private readonly IClusterClient _client;
    private readonly IRegistryEventSubscriber[] _subscribers;
    private readonly ILogger<RegistryEventDispatcher> _logger;
    private readonly bool _acknowledge;
    private readonly RecentIds _recent = new(DedupeWindow);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private StreamSubscriptionHandle<RegistryEvent>? _handle;

    public RegistryEventDispatcher(IClusterClient client, IEnumerable<IRegistryEventSubscriber> subscribers, IOptions<EventOutboxOptions> outbox, ILogger<RegistryEventDispatcher> logger)
    {
        _client = client;
        _subscribers = subscribers.ToArray();
        _logger = logger;
        _acknowledge = _subscribers.Length > 0 && outbox.Value.Acknowledges(EventConsumers.Subscribers);
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_subscribers.Length == 0)
        {
            return;
        }

        var stream = _client.GetStreamProvider(RegistryStreams.Provider).GetStream<RegistryEvent>(RegistryStreams.All);

        // Subscriptions of this consumer that survived (none for a fresh process, whose client id
        // is new) are resumed with this observer rather than doubled; extra ones are removed.
        var existing = await stream.GetAllSubscriptionHandles();
        if (existing.Count > 0)
        {
            _handle = await existing[0].ResumeAsync(OnNextAsync);
            foreach (var extra in existing.Skip(1))
            {
                await extra.UnsubscribeAsync();
            }
        }
        else
        {
            _handle = await stream.SubscribeAsync(OnNextAsync);
        }

        EventsLog.Subscribed(_logger, _subscribers.Length, existing.Count > 0);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        if (_handle is { } handle)
        {
            _handle = null;
            try
            {
                // Leaves the stream's subscriber list clean; a process that dies instead is removed
                // by the stream runtime the first time delivery finds it gone.
                await handle.UnsubscribeAsync().WaitAsync(cancellationToken);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                EventsLog.UnsubscribeFailed(_logger, e);
            }
        }
    }

    public void Dispose()
    {
        _gate.Dispose();
        _stopping.Dispose();
    }

    /// <summary>Offers one event to every subscriber unless its id was seen recently.</summary>
    internal async Task DispatchAsync(RegistryEvent e)
    {
        await _gate.WaitAsync();
        try
        {
            if (!_recent.Add(e.Id))
            {
                EventsLog.Duplicate(_logger, e.Id);
                Acknowledge(e);
                return;
            }

            foreach (var subscriber in _subscribers)
            {
                try
                {
                    await subscriber.OnEventAsync(e, _stopping.Token);
                }
                catch (Exception ex)
                {
                    if (_stopping.IsCancellationRequested)
                    {
                        return;
                    }

                    EventsLog.SubscriberFailed(_logger, ex, subscriber.GetType().Name, e.Id, e.Action, e.Repository);
                }
            }

            Acknowledge(e);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Every subscriber has been offered the event: its repository's outbox may let it go (one-way).</summary>
    private void Acknowledge(RegistryEvent e)
    {
        if (_acknowledge && e.FromOutbox)
        {
            _ = _client.GetGrain<IRepositoryGrain>(e.Repository).EventsPersisted(EventConsumers.Subscribers, [e.Id]);
        }
    }

    private Task OnNextAsync(RegistryEvent e, StreamSequenceToken? token) => DispatchAsync(e);
}
