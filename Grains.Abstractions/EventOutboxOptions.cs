namespace Registry.Grains;

/// <summary>
/// How long a repository's outbox keeps an event after publishing it (<c>Registry:Events:Outbox</c>).
/// </summary>
/// <remarks>
/// Cluster mode publishes to Azure queues: an event handed to the stream is durable, so it leaves
/// the outbox once published. Embedded mode publishes to memory streams, which lose what they hold
/// when the process stops or dies: there (<see cref="AwaitAcknowledgements"/>) the outbox keeps an
/// event until every one of <see cref="Consumers"/> has stored it and said so
/// (<see cref="IRepositoryGrain.EventsPersisted"/>), and a new activation of the repository
/// publishes again whatever is left.
/// </remarks>
public sealed class EventOutboxOptions
{
    public const string Section = "Registry:Events:Outbox";

    /// <summary>
    /// Whether published events stay in the outbox until acknowledged: set by the embedded silo's
    /// composition (memory streams), never by configuration.
    /// </summary>
    public bool AwaitAcknowledgements { get; set; }

    /// <summary>
    /// The consumers that acknowledge: the namespace event log and the webhook fanout (grains every
    /// namespace stream activates), plus the in-process subscribers when the host has any.
    /// </summary>
    public EventConsumers Consumers { get; set; } = EventConsumers.EventLog | EventConsumers.Webhooks;

    /// <summary>At most this many published, unacknowledged events are kept per repository; the oldest beyond it are dropped (logged and counted).</summary>
    public int Capacity { get; set; } = 1000;

    /// <summary>A published event unacknowledged for this long is dropped (logged and counted).</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Acknowledged events leave the stored outbox with the repository's next state write; when no
    /// change comes within this delay, a write of its own records that they are gone.
    /// </summary>
    public TimeSpan TrimDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The consumers a published event waits for (none when the stream is durable).</summary>
    public EventConsumers Awaited => AwaitAcknowledgements ? Consumers : EventConsumers.None;

    /// <summary>Whether <paramref name="consumer"/> must acknowledge the events it stores.</summary>
    public bool Acknowledges(EventConsumers consumer) => (Awaited & consumer) != 0;
}
