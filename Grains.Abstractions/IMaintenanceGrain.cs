namespace Registry.Grains;

/// <summary>
/// The owner of the cluster's periodic jobs (upload expiry, waking webhook queues): one grain, so
/// ten replicas do not each run them. Its Orleans reminders fire whichever silo hosts it.
/// </summary>
[Alias("registry.maintenance")]
public interface IMaintenanceGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Registers the periodic jobs where they are missing or their period changed, and runs the
    /// catch-up work a restart needs (waking stored webhook queues, and the repositories whose
    /// outbox may hold events not yet delivered). Every silo calls it once its host has started.
    /// </summary>
    [Alias("start")]
    Task Start();
}
