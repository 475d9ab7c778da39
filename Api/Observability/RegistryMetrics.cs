using System.Diagnostics;
using System.Diagnostics.Metrics;
using Registry.Grains;

namespace Registry.Api.Observability;

/// <summary>
/// The HTTP host's own instruments, on the registry's meter (<see cref="RegistryTelemetry.MeterName"/>). Values are per process;
/// Prometheus sums them across replicas. See docs/operations.md for names, units and labels.
/// </summary>
public sealed class RegistryMetrics
{
    /// <summary>Added to ASP.NET Core's request metrics: which OCI endpoint a <c>/v2</c> request hit.</summary>
    public const string RouteTag = "registry.route";

    private static readonly double[] StorageBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private readonly Counter<long> _bytesReceived;
    private readonly Counter<long> _bytesSent;
    private readonly Histogram<double> _storageDuration;
    private readonly Counter<long> _clientGone;

    public RegistryMetrics(RegistryMeter registry)
    {
        var meter = registry.Meter;
        _bytesReceived = meter.CreateCounter<long>("registry.blob.bytes_received", "By", "Blob bytes received in upload request bodies.");
        _bytesSent = meter.CreateCounter<long>("registry.blob.bytes_sent", "By", "Blob bytes sent in GET responses.");
        _clientGone = meter.CreateCounter<long>("registry.http.client_gone", "{request}", "Requests the client ended before the answer: a reset or closed connection, a body that stopped early, stalled or could not be read.");
        _storageDuration = meter.CreateHistogram(
            "registry.storage.duration",
            "s",
            "Duration of storage driver calls (opening a stream counts, reading it does not).",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = StorageBuckets });
    }

    /// <summary>A <c>/v2</c> request whose client went away before it was answered.</summary>
    public void ClientGone(Oci.OciRoute route) => _clientGone.Add(1, new KeyValuePair<string, object?>(RouteTag, RouteName(route)));

    public void BytesReceived(long bytes)
    {
        if (bytes > 0)
        {
            _bytesReceived.Add(bytes);
        }
    }

    public void BytesSent(long bytes)
    {
        if (bytes > 0)
        {
            _bytesSent.Add(bytes);
        }
    }

    /// <summary>Records one storage call that started at <paramref name="startTimestamp"/> (<see cref="Stopwatch.GetTimestamp()"/>).</summary>
    public void StorageCall(string operation, long startTimestamp, bool failed)
    {
        if (!_storageDuration.Enabled)
        {
            return;
        }

        _storageDuration.Record(
            Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds,
            new KeyValuePair<string, object?>("operation", operation),
            new KeyValuePair<string, object?>("outcome", failed ? "error" : "ok"));
    }

    /// <summary>The low-cardinality name of a <c>/v2</c> route, for <see cref="RouteTag"/>.</summary>
    public static string RouteName(Oci.OciRoute route) => route switch
    {
        Oci.OciRoute.Base => "base",
        Oci.OciRoute.Catalog => "catalog",
        Oci.OciRoute.Tags => "tags",
        Oci.OciRoute.Manifest => "manifest",
        Oci.OciRoute.Blob => "blob",
        Oci.OciRoute.UploadStart or Oci.OciRoute.Upload => "upload",
        Oci.OciRoute.Referrers => "referrers",
        _ => "unknown",
    };
}
