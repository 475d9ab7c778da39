using System.Diagnostics.Metrics;

namespace Registry.Grains;

/// <summary>Counts events the outbox dropped unacknowledged (<c>registry.events.outbox_dropped</c>).</summary>
public sealed class EventOutboxMetrics(RegistryMeter registry)
{
    private readonly Counter<long> _dropped = registry.Meter.CreateCounter<long>("registry.events.outbox_dropped", "{event}", "Published events a repository's outbox dropped before every consumer acknowledged them (Registry:Events:Outbox Capacity or MaxAge); a crash may then lose them.");

    public void Dropped(int count) => _dropped.Add(count);
}
