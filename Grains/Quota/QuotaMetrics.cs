using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Registry.Grains;

/// <summary>
/// Each active namespace usage's figures as observable gauges (<c>registry.quota.used_bytes</c>,
/// <c>registry.quota.repositories</c>, tagged by namespace). Each silo reports the namespaces
/// active on it, so summing over silos counts each once; at most <see cref="MaxNamespaces"/>
/// per process, so a registry of countless namespaces cannot flood the metrics backend.
/// </summary>
public sealed class QuotaMetrics
{
    public const int MaxNamespaces = QuotaNamespaces.MaxExported;

    // One table per process, whichever instance reports: OpenTelemetry listens to instruments by
    // meter name, so with several silos in one process (tests) it may observe another's gauge.
    private static readonly ConcurrentDictionary<string, NamespaceUsage> Usage = new(StringComparer.Ordinal);

    public QuotaMetrics(RegistryMeter registry)
    {
        registry.Meter.CreateObservableGauge("registry.quota.used_bytes", () => Measure(u => u.StorageBytes), "By", "Bytes a namespace's repositories hold, each distinct blob and manifest counted once (docs/quotas.md).");
        registry.Meter.CreateObservableGauge("registry.quota.repositories", () => Measure(u => u.Repositories), "{repository}", "Repositories of a namespace that hold any blob or manifest (docs/quotas.md).");
    }

    public void Report(string ns, NamespaceUsage usage)
    {
        if (Usage.Count < MaxNamespaces || Usage.ContainsKey(ns))
        {
            Usage[ns] = usage;
        }
    }

    public void Forget(string ns) => Usage.TryRemove(ns, out _);

    private static IEnumerable<Measurement<long>> Measure(Func<NamespaceUsage, long> figure)
        => Usage.Select(u => new Measurement<long>(figure(u.Value), new KeyValuePair<string, object?>("namespace", u.Key)));
}
