using System.Diagnostics;

namespace Registry.Bench;

/// <summary>
/// Closed-loop manifest GETs: every connection sends its next request as soon as the last one
/// is answered, first for a warm-up, then for a measured window. Only requests that start and
/// end inside the window count toward the latencies; those that end inside it toward the rate.
/// </summary>
internal static class ManifestLoad
{
    /// <summary>A bound on requests in one run, so a registry that answers errors instantly cannot spin forever.</summary>
    private const long MaxRequests = 20_000_000;

    /// <param name="url">The URL of the request a connection sends next (called once per request).</param>
    public static async Task<ManifestLoadResult> RunAsync(
        HttpClient http, Func<Uri> url, int connections, TimeSpan warmup, TimeSpan window, int manifestLength, CancellationToken ct)
    {
        var frequency = (double)Stopwatch.Frequency;
        var measureStart = Stopwatch.GetTimestamp() + (long)(warmup.TotalSeconds * frequency);
        var end = measureStart + (long)(window.TotalSeconds * frequency);
        long issued = 0, errors = 0, completed = 0, succeeded = 0;
        var latencies = new List<long>[connections];
        var workers = new Task[connections];
        for (var w = 0; w < connections; w++)
        {
            var mine = latencies[w] = new List<long>(1 << 14);
            workers[w] = Task.Run(async () =>
            {
                var buffer = new byte[64 * 1024];
                while (Interlocked.Increment(ref issued) <= MaxRequests)
                {
                    var t0 = Stopwatch.GetTimestamp();
                    if (t0 >= end)
                    {
                        break;
                    }

                    var ok = await RegistryClient.GetManifestAsync(http, url(), manifestLength, buffer, ct);

                    var t1 = Stopwatch.GetTimestamp();
                    if (!ok)
                    {
                        Interlocked.Increment(ref errors);
                        continue;
                    }

                    Interlocked.Increment(ref succeeded);
                    if (t1 >= measureStart && t1 <= end)
                    {
                        Interlocked.Increment(ref completed);
                        if (t0 >= measureStart)
                        {
                            mine.Add(t1 - t0);
                        }
                    }
                }
            }, ct);
        }

        await Task.WhenAll(workers);
        var sorted = latencies.SelectMany(l => l).Order().ToArray();
        if (sorted.Length == 0)
        {
            throw new BenchException($"no manifest GET succeeded ({errors} errors)");
        }

        return new ManifestLoadResult(completed / window.TotalSeconds, succeeded, errors, sorted);
    }
}

/// <summary>What a manifest load run measured.</summary>
/// <param name="RequestsPerSecond">Requests answered inside the window, per second of it.</param>
/// <param name="Succeeded">All requests answered 200 with the manifest, warm-up included.</param>
/// <param name="Errors">Requests that failed or were not answered with the manifest.</param>
/// <param name="SortedTicks">Latencies of the requests wholly inside the window, in stopwatch ticks, ascending.</param>
internal sealed record ManifestLoadResult(double RequestsPerSecond, long Succeeded, long Errors, long[] SortedTicks)
{
    /// <summary>The latency at quantile <paramref name="q"/>, in milliseconds.</summary>
    public double Ms(double q) => SortedTicks[(int)Math.Round(q * (SortedTicks.Length - 1))] * 1000.0 / Stopwatch.Frequency;
}
