using Microsoft.Extensions.Options;
using Orleans.Streams;
using Orleans.Streams.Core;

namespace Registry.Grains;

/// <summary>
/// Consumes one namespace's event stream (<see cref="RegistryStreams.OfNamespace"/>; activated by the
/// stream itself) and appends each event to the queue of every endpoint that does not ignore it,
/// in the order delivered. A delivery is acknowledged to the stream only once every queue has
/// stored its events; when a queue fails the stream delivers them again, and the queues drop the
/// ids they already hold. Where the repository's outbox waits for it
/// (<see cref="EventOutboxOptions.AwaitAcknowledgements"/>), the fanout then acknowledges the
/// delivery's events to their repositories, also when no queue wanted them.
/// </summary>
[ImplicitStreamSubscription(RegistryStreams.NamespaceStreamNamespace)]
public sealed class WebhookFanoutGrain(IOptionsMonitor<WebhookOptions> options, IOptions<EventOutboxOptions> outbox) : Grain, IWebhookFanoutGrain, IStreamSubscriptionObserver, IAsyncBatchObserver<RegistryEvent>
{
    private readonly bool _acknowledge = outbox.Value.Acknowledges(EventConsumers.Webhooks);

    public async Task OnSubscribed(IStreamSubscriptionHandleFactory handleFactory)
        => await handleFactory.Create<RegistryEvent>().ResumeAsync(this);

    public async Task OnNextAsync(IList<SequentialItem<RegistryEvent>> delivery)
    {
        foreach (var item in delivery)
        {
            await EnqueueAsync(item.Item);
        }

        if (_acknowledge)
        {
            // One-way: the repository's outbox lets an event go once every consumer has it.
            GrainFactory.AcknowledgeStored(EventConsumers.Webhooks, delivery.Select(item => item.Item));
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
