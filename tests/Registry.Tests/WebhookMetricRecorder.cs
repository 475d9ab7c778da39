using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Registry.Tests;

/// <summary>
/// Listens to the registry's webhook instruments in this test process and sums what they record
/// per instrument for one endpoint name (tests give every endpoint a unique name, so hosts running
/// in parallel do not mix in).
/// </summary>
public sealed class WebhookMetricRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, double> _sums = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _counts = new(StringComparer.Ordinal);
    private readonly string _endpoint;

    public WebhookMetricRecorder(string endpoint)
    {
        _endpoint = endpoint;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Registry" && instrument.Name.StartsWith("registry.webhooks.", StringComparison.Ordinal))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    /// <summary>The sum of what <paramref name="instrument"/> recorded for the endpoint (for a histogram, the sum of the values).</summary>
    public double Sum(string instrument) => _sums.GetValueOrDefault(instrument);

    /// <summary>How many measurements <paramref name="instrument"/> recorded for the endpoint.</summary>
    public long Count(string instrument) => _counts.GetValueOrDefault(instrument);

    public void Dispose() => _listener.Dispose();

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == "endpoint" && tag.Value as string == _endpoint)
            {
                _sums.AddOrUpdate(instrument.Name, value, (_, sum) => sum + value);
                _counts.AddOrUpdate(instrument.Name, 1, (_, count) => count + 1);
                return;
            }
        }
    }
}
