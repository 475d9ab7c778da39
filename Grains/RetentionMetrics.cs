using System.Diagnostics.Metrics;

namespace Registry.Grains;

/// <summary>Counts the state writes that recorded pull times (<c>registry.retention.pull_writes</c>): at most one per repository and flush.</summary>
public sealed class RetentionMetrics(RegistryMeter registry)
{
    private readonly Counter<long> _pullWrites = registry.Meter.CreateCounter<long>("registry.retention.pull_writes", "{write}", "Repository state writes that recorded manifest pull times (batched by the HTTP hosts, docs/retention.md).");
    private long _written;

    /// <summary>The writes this process's repositories made for pull times (for tests and diagnostics).</summary>
    public long PullWrites => Interlocked.Read(ref _written);

    public void PullsWritten()
    {
        Interlocked.Increment(ref _written);
        _pullWrites.Add(1);
    }
}
