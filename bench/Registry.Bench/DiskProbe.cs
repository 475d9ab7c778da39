using System.Globalization;

namespace Registry.Bench;

/// <summary>
/// The disk's durable write rates that <c>bench/run.sh</c> measures with <c>dd</c> just before the
/// push runs, passed to the report as <c>--disk-mbps A,B,C</c>.
/// </summary>
public static class DiskProbe
{
    /// <summary>The rates in MB/s; empty when none were measured (no dd, or no direct I/O on that filesystem).</summary>
    public static IReadOnlyList<double> Parse(string? list)
    {
        var rates = new List<double>();
        foreach (var part in (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out var rate) || rate <= 0)
            {
                throw new BenchException($"--disk-mbps: '{part}' is not a positive number of MB/s");
            }

            rates.Add(rate);
        }

        return rates;
    }
}
