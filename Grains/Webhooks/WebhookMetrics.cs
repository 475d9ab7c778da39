using System.Diagnostics.Metrics;

namespace Registry.Grains;

/// <summary>
/// Webhook instruments, labelled <c>endpoint</c>, on the registry's meter. Values are per process:
/// a queue counts where its grain is active; sum over replicas.
/// </summary>
public sealed class WebhookMetrics
{
    public const string EndpointTag = "endpoint";

    private static readonly double[] LatencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

    private readonly Counter<long> _delivered;
    private readonly Counter<long> _failedAttempts;
    private readonly Counter<long> _dropped;
    private readonly UpDownCounter<long> _pending;
    private readonly Histogram<double> _latency;

    public WebhookMetrics(RegistryMeter registry)
    {
        var meter = registry.Meter;
        _delivered = meter.CreateCounter<long>("registry.webhooks.delivered", "{event}", "Events a webhook endpoint accepted (2xx or 3xx).");
        _failedAttempts = meter.CreateCounter<long>("registry.webhooks.failed_attempts", "{attempt}", "POSTs to a webhook endpoint that failed: an error status, no answer within the timeout, or no connection.");
        _dropped = meter.CreateCounter<long>("registry.webhooks.dropped", "{event}", "Events dropped undelivered: the oldest of a full queue (MaxPending), or the queue of an endpoint no longer configured.");
        _pending = meter.CreateUpDownCounter<long>("registry.webhooks.pending", "{event}", "Events waiting for delivery in the webhook queues active in this process.");
        _latency = meter.CreateHistogram(
            "registry.webhooks.delivery_latency",
            "s",
            "Time from an event (its timestamp) to the POST that delivered it.",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
    }

    public void Delivered(string endpoint, int count) => _delivered.Add(count, Tag(endpoint));

    public void FailedAttempt(string endpoint) => _failedAttempts.Add(1, Tag(endpoint));

    public void Dropped(string endpoint, int count) => _dropped.Add(count, Tag(endpoint));

    public void PendingChanged(string endpoint, int delta)
    {
        if (delta != 0)
        {
            _pending.Add(delta, Tag(endpoint));
        }
    }

    public void Latency(string endpoint, TimeSpan latency) => _latency.Record(Math.Max(0, latency.TotalSeconds), Tag(endpoint));

    private static KeyValuePair<string, object?> Tag(string endpoint) => new(EndpointTag, endpoint);
}
