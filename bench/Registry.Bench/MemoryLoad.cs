using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace Registry.Bench;

/// <summary>What <see cref="MemoryLoad"/> runs: slow pulls of one blob and pushes of fresh blobs at once, for a time.</summary>
public sealed record MemoryLoadOptions(Uri Url, int Pid, int Pulls, int Pushes, long PullBlobBytes, long PushBlobBytes, int PullBytesPerSecond, TimeSpan Duration);

/// <summary>
/// The memory trial of issue 13: many clients pulling one large blob slowly (each reads 16 KiB
/// at a time at a fixed rate, as a throttled or far-away client does) while others push fresh
/// blobs, and the registry process's peak RSS (VmHWM) through it. Every pull and push is
/// checked; a failure is an error, not a figure.
/// </summary>
public sealed class MemoryLoad(MemoryLoadOptions options, TextWriter log)
{
    private const int ReadSize = 16 * 1024;

    public async Task<int> RunAsync(CancellationToken ct)
    {
        using var client = new RegistryClient(options.Url, options.Pulls + options.Pushes + 4);
        var repository = $"memory-{DateTime.UtcNow:HHmmss}-{Random.Shared.Next(100_000)}";
        var blob = new PatternBlob(options.PullBlobBytes, (ulong)Random.Shared.NextInt64());
        _ = blob.Digest;
        await client.PushMonolithicAsync(repository, blob, ct);
        await using var probe = new ProcessProbe(options.Pid);
        var before = probe.Read() ?? throw new BenchException("the registry process is gone");
        log.WriteLine($"before the load: RSS {before.VmRssKiB / 1024} MiB, peak so far {before.VmHwmKiB / 1024} MiB");

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stop.CancelAfter(options.Duration);
        long pulled = 0, pushed = 0, pushes = 0, errors = 0;
        var started = Stopwatch.StartNew();
        var pulls = Enumerable.Range(0, options.Pulls).Select(async worker =>
        {
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    Interlocked.Add(ref pulled, await SlowPullAsync(client, repository, blob, stop.Token));
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                Interlocked.Increment(ref errors);
                log.WriteLine($"pull failed: {e.Message}");
            }
        });
        var pushers = Enumerable.Range(0, options.Pushes).Select(async worker =>
        {
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    var fresh = new PatternBlob(options.PushBlobBytes, (ulong)Random.Shared.NextInt64());
                    _ = fresh.Digest;
                    await client.PushMonolithicAsync(repository, fresh, stop.Token);
                    Interlocked.Add(ref pushed, fresh.Size);
                    Interlocked.Increment(ref pushes);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                Interlocked.Increment(ref errors);
                log.WriteLine($"push failed: {e.Message}");
            }
        });
        await Task.WhenAll(pulls.Concat(pushers));
        var after = probe.Read() ?? throw new BenchException("the registry process is gone");
        var seconds = started.Elapsed.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {options.Pulls} slow pulls ({options.PullBytesPerSecond / 1024} KiB/s each, {options.PullBlobBytes >> 20} MiB blob) + {options.Pushes} pushes ({options.PushBlobBytes >> 20} MiB blobs), {seconds:F0} s | {before.VmRssKiB / 1024} | {after.VmHwmKiB / 1024} | {probe.MaxSampledRssKiB / 1024} | {pulled / seconds / 1e6:F1} | {pushes} ({pushed / seconds / 1e6:F1} MB/s) | {errors} |"));
        return errors == 0 ? 0 : 1;
    }

    /// <summary>Reads the blob at <see cref="MemoryLoadOptions.PullBytesPerSecond"/>; returns the bytes read (the whole blob or up to the stop).</summary>
    private async Task<long> SlowPullAsync(RegistryClient client, string repository, PatternBlob blob, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, client.Resolve($"/v2/{repository}/blobs/{blob.Digest}"));
        using var response = await client.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        await RegistryClient.ExpectAsync(response, HttpStatusCode.OK, "blob GET");
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        var buffer = new byte[ReadSize];
        var expected = new byte[ReadSize];
        var pace = Stopwatch.StartNew();
        long total = 0;
        try
        {
            int read;
            while ((read = await body.ReadAsync(buffer, ct)) > 0)
            {
                // Check the bytes as they come: a wrong byte is a failed pull.
                blob.Fill(total, expected.AsSpan(0, read));
                if (!buffer.AsSpan(0, read).SequenceEqual(expected.AsSpan(0, read)))
                {
                    throw new BenchException($"blob GET returned wrong bytes at offset {total}");
                }

                total += read;
                var due = TimeSpan.FromSeconds((double)total / options.PullBytesPerSecond) - pace.Elapsed;
                if (due > TimeSpan.Zero)
                {
                    await Task.Delay(due, ct);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return total;
        }

        return total == blob.Size ? total : throw new BenchException($"blob GET returned {total} bytes, expected {blob.Size}");
    }
}

/// <summary>Pushes <c>count</c> fresh blobs, <c>concurrency</c> at a time, and reports the throughput (the Azure commit's cost shows here).</summary>
public static class PushThroughput
{
    public static async Task<int> RunAsync(Uri url, int count, int concurrency, long size, CancellationToken ct)
    {
        using var client = new RegistryClient(url, concurrency + 2);
        var repository = $"push-{DateTime.UtcNow:HHmmss}-{Random.Shared.Next(100_000)}";
        var blobs = Enumerable.Range(0, count).Select(_ => new PatternBlob(size, (ulong)Random.Shared.NextInt64())).ToArray();
        foreach (var blob in blobs)
        {
            _ = blob.Digest;
        }

        // One warm-up push, not timed: connections, grain activations, the container.
        await client.PushMonolithicAsync(repository, new PatternBlob(size, (ulong)Random.Shared.NextInt64()), ct);
        var next = -1;
        var latencies = new double[count];
        var started = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async worker =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var one = Stopwatch.StartNew();
                await client.PushMonolithicAsync(repository, blobs[i], ct);
                latencies[i] = one.Elapsed.TotalMilliseconds;
            }
        }));
        var seconds = started.Elapsed.TotalSeconds;
        Array.Sort(latencies);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {count} × {size >> 20} MiB, {concurrency} concurrent | {count * size / seconds / 1e6:F1} MB/s | {latencies[count / 2]:F0} ms | {latencies[^1]:F0} ms |"));
        return 0;
    }
}
