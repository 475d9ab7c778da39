using Orleans.Concurrency;

namespace Registry.Grains;

/// <summary>
/// Subscribed implicitly to one namespace's event stream (key = the stream key: the namespace,
/// "_" for the empty one); hands each event to the queue of every webhook endpoint that wants it.
/// </summary>
[Alias("registry.webhook-fanout")]
public interface IWebhookFanoutGrain : IGrainWithStringKey;

/// <summary>
/// The durable delivery queue of one webhook endpoint for one namespace, keyed
/// <c>{endpoint}/{namespace key}</c> (<see cref="WebhookQueueKey"/>). Events are kept in order and
/// POSTed from here; an event is stored before <see cref="Enqueue"/> returns.
/// </summary>
[Alias("registry.webhook-queue")]
public interface IWebhookQueueGrain : IGrainWithStringKey
{
    /// <summary>Appends an event unless its id was seen recently; returns once it is stored.</summary>
    [Alias("enqueue")]
    Task Enqueue(RegistryEvent @event);

    /// <summary>Activates the queue so that stored events are delivered (used after a restart).</summary>
    [OneWay, Alias("wake")]
    Task Wake();

    [Alias("status")]
    ValueTask<WebhookQueueStatus> GetStatus();
}

/// <summary>
/// What a webhook queue holds and how its endpoint is doing; <c>Held</c> when its endpoint is not
/// configured and its events are kept for its return.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.webhook-queue-status")]
public sealed record WebhookQueueStatus(
    [property: Id(0)] int Pending,
    [property: Id(1)] long Dropped,
    [property: Id(2)] int ConsecutiveFailures,
    [property: Id(3)] bool Failing,
    [property: Id(4)] bool Held = false);

/// <summary>
/// The registry of webhook queues that may hold events (key 0), so that every one of them is
/// activated again after a restart even when no new event arrives for its namespace.
/// </summary>
[Alias("registry.webhook-directory")]
public interface IWebhookDirectoryGrain : IGrainWithIntegerKey
{
    /// <summary>Records a queue; returns once the record is stored.</summary>
    [Alias("add")]
    Task Add(string queue);

    [Alias("remove")]
    Task Remove(string queue);

    /// <summary>Wakes every recorded queue; returns how many there are.</summary>
    [Alias("wake")]
    Task<int> Wake();

    [Alias("list")]
    ValueTask<IReadOnlyList<string>> List();
}

public static class WebhookQueueKey
{
    /// <summary>The key of <paramref name="endpoint"/>'s queue for the namespace stream key <paramref name="namespaceKey"/>.</summary>
    public static string Of(string endpoint, string namespaceKey) => $"{endpoint}/{namespaceKey}";

    /// <summary>The endpoint name of a queue key (endpoint names contain no '/').</summary>
    public static string EndpointOf(string queueKey) => queueKey[..queueKey.IndexOf('/', StringComparison.Ordinal)];
}
