using System.Diagnostics.Metrics;
using Registry.Grains;

namespace Registry.Silo;

/// <summary>Upload sessions in progress (<c>registry.uploads.active</c>), counted by the processes that start, end and expire them.</summary>
public sealed class UploadMetrics(RegistryMeter registry)
{
    private readonly UpDownCounter<long> _active = registry.Meter.CreateUpDownCounter<long>("registry.uploads.active", "{session}", "Upload sessions started through this process minus those finished, cancelled or expired through it; sum over replicas for the cluster's count.");

    public void Started() => _active.Add(1);

    public void Ended() => _active.Add(-1);
}
