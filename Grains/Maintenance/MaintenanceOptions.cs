namespace Registry.Grains;

/// <summary>The periods of the cluster's jobs; the silo's composition sets them from configuration.</summary>
public sealed class MaintenanceOptions
{
    /// <summary>How often expired uploads are swept (<c>Registry:Uploads:SweepInterval</c>).</summary>
    public TimeSpan UploadSweepInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How often every webhook queue that may hold events is woken, so stored events go out without new ones.</summary>
    public TimeSpan WebhookWakeInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often garbage collection runs (<c>Registry:GarbageCollection:Interval</c>); zero: on demand only.</summary>
    public TimeSpan GarbageCollectionInterval { get; set; } = TimeSpan.FromHours(24);
}
