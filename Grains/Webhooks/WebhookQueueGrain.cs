using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Runtime;

namespace Registry.Grains;

/// <summary>
/// One endpoint's queue for one namespace. <see cref="Enqueue"/> stores the event before it returns;
/// delivery runs from a grain timer that interleaves with enqueues, so a slow or dead endpoint never
/// holds up an enqueue (and so never a push). Delivery is FIFO: the head is retried, with backoff,
/// until it is delivered or dropped because the queue overflowed.
/// </summary>
/// <remarks>
/// Reentrant: every method changes the state within one turn, and state writes are coalesced
/// (<see cref="GroupCommit"/>), so enqueues and the delivery loop never write concurrently.
/// </remarks>
[Reentrant]
public sealed class WebhookQueueGrain : Grain, IWebhookQueueGrain
{
    /// <summary>How many recent event ids each queue remembers to drop duplicates.</summary>
    public const int RecentIdLimit = 1024;

    private static readonly TimeSpan DropLogInterval = TimeSpan.FromMinutes(1);

    private readonly IPersistentState<WebhookQueueState> _state;
    private readonly IOptionsMonitor<WebhookOptions> _options;
    private readonly WebhookSender _sender;
    private readonly WebhookMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<WebhookQueueGrain> _logger;
    private readonly GroupCommit _commit;
    private readonly RecentIds _recent = new(RecentIdLimit);

    private readonly WebhookRetrySchedule _schedule;

    private bool _delivering;

    /// <summary>The endpoint is not configured: the events are kept, not delivered.</summary>
    private bool _held;

    /// <summary>Whether the directory is known to record this queue.</summary>
    private bool _inDirectory;

    /// <summary>Counts changes of the state; <see cref="_durableVersion"/> is the one last written.</summary>
    private long _version;
    private long _durableVersion;

    private int _reportedPending;
    private int _droppedUnlogged;
    private DateTimeOffset _lastDropLog = DateTimeOffset.MinValue;

    public WebhookQueueGrain(
        [PersistentState("webhook-queue", GrainStorageNames.Provider)] IPersistentState<WebhookQueueState> state,
        IOptionsMonitor<WebhookOptions> options,
        WebhookSender sender,
        WebhookMetrics metrics,
        TimeProvider time,
        ILogger<WebhookQueueGrain> logger)
    {
        _state = state;
        _options = options;
        _sender = sender;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        _commit = new GroupCommit(WriteAsync, DeactivateOnIdle);
        _schedule = new WebhookRetrySchedule(StartTimer, DeliverAsync, () => !_delivering && S.Pending.Count > 0, () => Endpoint, sender.ProbeAsync, time);
    }

    private WebhookQueueState S => _state.State;

    private string Key => this.GetPrimaryKeyString();

    private string EndpointName => WebhookQueueKey.EndpointOf(Key);

    private WebhookEndpointOptions? Endpoint => _options.CurrentValue.Find(EndpointName);

    private IWebhookDirectoryGrain Directory => GrainFactory.GetGrain<IWebhookDirectoryGrain>(0);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var id in S.RecentIds)
        {
            _recent.Add(id);
        }

        if (S.Pending.Count > 0)
        {
            // Stored events always belong to a recorded queue; recording again is cheap and makes sure.
            await Directory.Add(Key);
            _inDirectory = true;
            ReportPending();
            _schedule.Schedule(TimeSpan.Zero);
        }
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _metrics.PendingChanged(EndpointName, -_reportedPending);
        _reportedPending = 0;
        // Not while the silo stops (the directory may be gone already): a record of an empty queue is harmless.
        if (_inDirectory && S.Pending.Count == 0 && _version == _durableVersion && !_delivering && reason.ReasonCode != DeactivationReasonCode.ShuttingDown)
        {
            try
            {
                _inDirectory = false;
                await Directory.Remove(Key);
            }
            catch (Exception e)
            {
                // Harmless: the next wake finds the queue empty and removes it then.
                WebhookLog.DirectoryRemoveFailed(_logger, e, Key);
            }
        }
    }

    public async Task Enqueue(RegistryEvent @event)
    {
        if (Endpoint is not { } endpoint)
        {
            return;
        }

        if (_recent.Add(@event.Id))
        {
            S.Pending.Add(@event);
            var excess = S.Pending.Count - endpoint.MaxPending;
            if (excess > 0)
            {
                Drop(excess, $"the queue holds more than MaxPending {endpoint.MaxPending} events");
            }

            Changed();
        }

        // A duplicate waits for a write too: it returns only once what it carried is stored.
        await _commit.CommitAsync();
        _schedule.Schedule(TimeSpan.Zero);
        _schedule.RetrySoon();
    }

    public Task Wake()
    {
        if (S.Pending.Count > 0)
        {
            _schedule.Schedule(TimeSpan.Zero);
            _schedule.RetrySoon();
        }
        else
        {
            // The directory records this queue (it just woke it) but it holds nothing: let it go.
            _inDirectory = true;
            DeactivateOnIdle();
        }

        return Task.CompletedTask;
    }

    public ValueTask<WebhookQueueStatus> GetStatus()
        => ValueTask.FromResult(new WebhookQueueStatus(S.Pending.Count, S.Dropped, _schedule.Failures, _schedule.Failures >= (Endpoint?.FailureThreshold ?? int.MaxValue), _held));

    private async Task DeliverAsync(CancellationToken cancellationToken)
    {
        _delivering = true;
        try
        {
            while (S.Pending.Count > 0)
            {
                if (Endpoint is not { } endpoint)
                {
                    await HoldOrPurgeAsync();
                    return;
                }

                _held = false;

                // A copy: enqueues and drops change the queue while the POST is in flight.
                var batch = S.Pending.GetRange(0, Math.Min(S.Pending.Count, endpoint.MaxEventsPerPost));
                _schedule.Attempting();
                var attempt = await _sender.PostAsync(endpoint, EventEnvelope.Serialize(batch));
                if (!attempt.Delivered)
                {
                    _metrics.FailedAttempt(endpoint.Name);
                    _delivering = false;
                    var delay = _schedule.Failed(endpoint, attempt.Unreachable);
                    var failures = _schedule.Failures;
                    if (failures == endpoint.FailureThreshold)
                    {
                        WebhookLog.EndpointFailing(_logger, endpoint.Name, Key, failures, attempt.Outcome, S.Pending.Count, delay);
                    }
                    else
                    {
                        WebhookLog.AttemptFailed(_logger, endpoint.Name, Key, failures, attempt.Outcome, delay);
                    }

                    return;
                }

                if (_schedule.Failures >= endpoint.FailureThreshold)
                {
                    WebhookLog.EndpointRecovered(_logger, endpoint.Name, Key, _schedule.Failures);
                }

                _schedule.Succeeded();

                // Overflow may have dropped the oldest events while the POST was in flight: what is
                // left of the batch is still at the head.
                var sent = batch.Select(e => e.Id).ToHashSet(StringComparer.Ordinal);
                var delivered = 0;
                var now = _time.GetUtcNow();
                while (delivered < S.Pending.Count && sent.Contains(S.Pending[delivered].Id))
                {
                    _metrics.Latency(endpoint.Name, now - S.Pending[delivered].Timestamp);
                    delivered++;
                }

                S.Pending.RemoveRange(0, delivered);
                _metrics.Delivered(endpoint.Name, delivered);
                Changed();
                await _commit.CommitAsync();
            }
        }
        catch (Exception e)
        {
            // A failed state write: the activation is being replaced and the stored queue goes out
            // again from the next one (delivered events once more: at least once).
            WebhookLog.DeliveryStopped(_logger, e, Key);
        }
        finally
        {
            _delivering = false;
        }
    }

    /// <summary>
    /// The endpoint is not configured. Its events are kept (a typo or a missing setting must not
    /// lose them) and go out once it is configured again; only <see cref="WebhookOptions.Purge"/>,
    /// the explicit removal, deletes them.
    /// </summary>
    private async Task HoldOrPurgeAsync()
    {
        if (!_options.CurrentValue.Purges(EndpointName))
        {
            if (!_held)
            {
                _held = true;
                WebhookLog.Held(_logger, EndpointName, Key, S.Pending.Count);
            }

            return;
        }

        Drop(S.Pending.Count, $"the endpoint is listed in {WebhookOptions.Section}:Purge");
        Changed();
        await _commit.CommitAsync();
        DeactivateOnIdle();
    }

    private void Drop(int count, string why)
    {
        S.Pending.RemoveRange(0, count);
        S.Dropped += count;
        _metrics.Dropped(EndpointName, count);
        _droppedUnlogged += count;
        var now = _time.GetUtcNow();
        if (now - _lastDropLog >= DropLogInterval)
        {
            WebhookLog.Dropped(_logger, _droppedUnlogged, EndpointName, Key, why, S.Dropped);
            _droppedUnlogged = 0;
            _lastDropLog = now;
        }
    }

    /// <summary>After a change of the state: it needs a write, and the pending gauge follows.</summary>
    private void Changed()
    {
        _version++;
        ReportPending();
    }

    private void ReportPending()
    {
        _metrics.PendingChanged(EndpointName, S.Pending.Count - _reportedPending);
        _reportedPending = S.Pending.Count;
    }

    /// <summary>A timer that interleaves with calls; a scheduled attempt keeps the activation alive.</summary>
    private IDisposable StartTimer(Func<CancellationToken, Task> callback, TimeSpan due, TimeSpan period)
        => this.RegisterGrainTimer(callback, new GrainTimerCreationOptions(due, period)
        {
            Interleave = true,
            KeepAlive = true,
        });

    private async Task WriteAsync()
    {
        if (S.Pending.Count > 0 && !_inDirectory)
        {
            await Directory.Add(Key);
            _inDirectory = true;
        }

        var covering = _version;
        S.RecentIds = [.. _recent];
        await _state.WriteStateAsync();
        _durableVersion = Math.Max(_durableVersion, covering);
    }
}
