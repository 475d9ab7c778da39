using Microsoft.Extensions.Options;
using Orleans.Streams;
using Orleans.Streams.Core;

namespace Registry.Grains;

/// <summary>
/// Consumes one namespace's event stream (<see cref="RegistryStreams.OfNamespace"/>; activated by the
/// stream itself) and appends each event to the queue of every endpoint that does not ignore it.
/// An event is acknowledged to the stream only once every queue has stored it; when a queue fails
/// the stream delivers the event again, and the queues drop the ids they already hold. Where the
/// repository's outbox waits for it (<see cref="EventOutboxOptions.AwaitAcknowledgements"/>), the
/// fanout then acknowledges the event to its repository, also when no queue wanted it.
/// </summary>
[ImplicitStreamSubscription("registry-ns")]
public sealed class WebhookFanoutGrain(IOptionsMonitor<WebhookOptions> options, IOptions<EventOutboxOptions> outbox) : Grain, IWebhookFanoutGrain, IStreamSubscriptionObserver, IAsyncObserver<RegistryEvent>
{
    private readonly bool _acknowledge = outbox.Value.Acknowledges(EventConsumers.Webhooks);

    public async Task OnSubscribed(IStreamSubscriptionHandleFactory handleFactory)
        => await handleFactory.Create<RegistryEvent>().ResumeAsync(this);

    public async Task OnNextAsync(RegistryEvent item, StreamSequenceToken? token = null)
    {
        await EnqueueAsync(item);
        if (_acknowledge)
        {
            // One-way: the repository's outbox lets the event go once every consumer has it.
            _ = GrainFactory.GetGrain<IRepositoryGrain>(item.Repository).EventsPersisted(EventConsumers.Webhooks, [item.Id]);
        }
    }

    /// <summary>Completes once every queue that wants the event has stored it.</summary>
    private Task EnqueueAsync(RegistryEvent item)
    {
        var endpoints = options.CurrentValue.Endpoints;
        if (endpoints.Count == 0)
        {
            return Task.CompletedTask;
        }

        var namespaceKey = this.GetPrimaryKeyString();
        var enqueues = new List<Task>(endpoints.Count);
        foreach (var endpoint in endpoints)
        {
            if (endpoint.Accepts(item))
            {
                enqueues.Add(GrainFactory.GetGrain<IWebhookQueueGrain>(WebhookQueueKey.Of(endpoint.Name, namespaceKey)).Enqueue(item));
            }
        }

        return Task.WhenAll(enqueues);
    }

    public Task OnCompletedAsync() => Task.CompletedTask;

    public Task OnErrorAsync(Exception ex) => Task.CompletedTask;
}
