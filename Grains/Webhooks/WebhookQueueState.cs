namespace Registry.Grains;

[GenerateSerializer, Alias("registry.webhook-queue-state")]
public sealed class WebhookQueueState
{
    /// <summary>Events not yet delivered, oldest first.</summary>
    [Id(0)] public List<RegistryEvent> Pending { get; set; } = [];

    /// <summary>Ids of the events most recently accepted, oldest first (at most <see cref="WebhookQueueGrain.RecentIdLimit"/>): a snapshot of the grain's window taken at each write.</summary>
    [Id(1)] public List<string> RecentIds { get; set; } = [];

    /// <summary>Events dropped since the queue was created.</summary>
    [Id(2)] public long Dropped { get; set; }
}
