using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;

namespace Registry.Bench;

public sealed record BenchOptions(Uri Url, int? Pid, bool Quick, bool Big, string? JsonPath, TimeSpan TagsTimeout, IReadOnlySet<string>? Only = null)
{
    public static readonly string[] PhaseNames = ["push-monolithic", "push-single-post", "push-chunked", "pull", "manifest-get", "tags-list", "big"];

    public const long MiB = 1024 * 1024;

    public long BlobSize => Quick ? 64 * MiB : 256 * MiB;

    public int Runs => Quick ? 1 : 5;

    public int PullRuns => Quick ? 1 : 9;

    public long ChunkSize => 8 * MiB;

    public long BigSize => 2048 * MiB;

    public long BigChunkSize => 64 * MiB;

    public int Connections => 64;

    public TimeSpan Warmup => TimeSpan.FromSeconds(Quick ? 1 : 2);

    public TimeSpan Duration => TimeSpan.FromSeconds(Quick ? 3 : 10);

    public int Tags => Quick ? 1_000 : 10_000;

    public int TagConcurrency => 16;

    public int ListRuns => Quick ? 3 : 21;
}

/// <summary>Runs every measurement against one registry and collects the figures.</summary>
public sealed class Benchmark(BenchOptions options, TextWriter log)
{
    private const double MB = 1_000_000;
    private readonly BenchResult _result = new();
    private readonly string _runId = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture) + "-" + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()[..3]);
    private ProcessProbe? _probe;
    private PatternBlob? _pullable;
    private string? _pullRepository;

    private ulong SeedFor(int test, int run) => ((ulong)(uint)_runId.GetHashCode(StringComparison.Ordinal) << 32) | ((ulong)test << 16) | (uint)run;

    private string Repo(string stream) => $"bench-{_runId}/{stream}";

    public async Task<BenchResult> RunAsync(CancellationToken ct)
    {
        var total = Stopwatch.StartNew();
        _result.Url = options.Url.ToString();
        _result.RunId = _runId;
        _result.Started = DateTimeOffset.UtcNow;
        _result.Quick = options.Quick;
        _result.Big = options.Big;
        _result.Pid = options.Pid;
        var phases = options.Only is { } only ? string.Join(", ", BenchOptions.PhaseNames.Where(only.Contains)) : "all";
        var loadAtStart = SystemCpu.LoadAverage();
        using var client = new RegistryClient(options.Url);
        await using var probe = options.Pid is { } pid ? new ProcessProbe(pid) : null;
        _probe = probe;
        if (!await client.PingAsync(ct))
        {
            throw new BenchException($"{options.Url} did not answer GET /v2/ with 200");
        }

        await PhaseAsync("push-monolithic", () => PushMonolithicAsync(client, ct));
        await PhaseAsync("push-single-post", () => PushSinglePostAsync(client, ct));
        await PhaseAsync("push-chunked", () => PushChunkedAsync(client, ct));
        await PhaseAsync("pull", () => PullAsync(client, ct));
        await PhaseAsync("manifest-get", () => ManifestLoadAsync(client, ct));
        await PhaseAsync("tags-create", () => CreateTagsAsync(client, ct));
        await PhaseAsync("tags-list", () => ListTagsAsync(client, ct));
        if (probe?.Read() is { } standard && (options.Only is null || options.Only.Any(p => p != "big")))
        {
            _result.Metrics.Add(new Metric("peak_rss_mib", "Peak RSS of the registry (VmHWM)", "MiB", standard.VmHwmKiB / 1024.0, false,
                $"whole run so far; 100 ms sampler max {probe.MaxSampledRssKiB / 1024.0:F0} MiB"));
        }

        if (options.Big && (options.Only is null || options.Only.Contains("big")))
        {
            await PhaseAsync("big-push", () => BigPushAsync(client, ct));
            await PhaseAsync("big-pull", () => BigPullAsync(client, ct));
            if (probe?.Read() is { } big)
            {
                _result.Metrics.Add(new Metric("big_peak_rss_mib", "Peak RSS after the 2 GiB test (VmHWM)", "MiB", big.VmHwmKiB / 1024.0, false));
            }
        }

        _result.Notes.Add($"Phases {phases}: load average {loadAtStart} at start, {SystemCpu.LoadAverage()} at end (nproc {Environment.ProcessorCount}).");
        _result.TotalSeconds = total.Elapsed.TotalSeconds;
        return _result;
    }

    private async Task PhaseAsync(string name, Func<Task> body)
    {
        if (options.Only is { } only && !only.Contains(name) && !(name == "tags-create" && only.Contains("tags-list")) && !(name.StartsWith("big-", StringComparison.Ordinal) && only.Contains("big")))
        {
            return;
        }

        log.WriteLine($"[{DateTime.Now:HH:mm:ss}] {name} ...");
        var before = _probe?.Read();
        var clientBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var systemBefore = SystemCpu.BusySeconds();
        var watch = Stopwatch.StartNew();
        string? error = null;
        try
        {
            await body();
        }
        catch (Exception e) when (e is BenchException or HttpRequestException or IOException or TaskCanceledException or JsonException)
        {
            error = e.Message;
            _result.Errors.Add($"{name}: {e.Message}");
            log.WriteLine($"  FAILED: {e.Message}");
        }

        var after = _probe?.Read();
        var clientCpu = (Process.GetCurrentProcess().TotalProcessorTime - clientBefore).TotalSeconds;
        var systemCpu = SystemCpu.BusySeconds() - systemBefore;
        double? serverCpu = before is { } b && after is { } a ? a.CpuSeconds - b.CpuSeconds : null;
        _result.Phases.Add(new PhaseStat(
            name,
            watch.Elapsed.TotalSeconds,
            clientCpu,
            serverCpu,
            serverCpu is { } sc ? Math.Max(0, systemCpu - sc - clientCpu) : null,
            after?.VmHwmKiB / 1024.0,
            after?.VmRssKiB / 1024.0,
            error));
        log.WriteLine($"  {watch.Elapsed.TotalSeconds:F1} s{(after is { } s ? $", VmHWM {s.VmHwmKiB / 1024} MiB" : "")}");
    }

    private async Task<double[]> TimedRunsAsync(int test, long size, Func<PatternBlob, Task> push, CancellationToken ct)
    {
        // One untimed push of the same kind first, as for the pull: start-up costs (a JIT compiling
        // the request path, a first connection, first files) are not what the figure is about.
        var warmUp = new PatternBlob(size, SeedFor(test, 100));
        _ = warmUp.Digest;
        await push(warmUp);

        var samples = new double[options.Runs];
        for (var run = 0; run < options.Runs; run++)
        {
            var blob = new PatternBlob(size, SeedFor(test, run));
            _ = blob.Digest;
            await DiskSettle.WaitAsync(log, ct);
            var watch = Stopwatch.StartNew();
            await push(blob);
            samples[run] = size / MB / watch.Elapsed.TotalSeconds;
            log.WriteLine($"  run {run + 1}: {samples[run]:F0} MB/s");
        }

        return samples;
    }

    private async Task PushMonolithicAsync(RegistryClient client, CancellationToken ct)
    {
        var repo = Repo("blobs");
        var samples = await TimedRunsAsync(1, options.BlobSize, blob => client.PushMonolithicAsync(repo, blob, ct), ct);
        _result.Metrics.Add(new Metric("push_monolithic_mbps", $"Push {options.BlobSize / BenchOptions.MiB} MiB monolithic (POST + one PUT ?digest= with body)", "MB/s", Median(samples), true, null, samples));
    }

    private async Task PushSinglePostAsync(RegistryClient client, CancellationToken ct)
    {
        var repo = Repo("blobs");
        var probeBlob = new PatternBlob(4096, SeedFor(2, 999));
        if (!await client.TryPushSinglePostAsync(repo, probeBlob, ct))
        {
            _result.Notes.Add("Single-request monolithic upload (POST ?digest= with body) is not supported: the registry answered 202 and opened a session.");
            _result.Metrics.Add(new Metric("push_single_post_mbps", $"Push {options.BlobSize / BenchOptions.MiB} MiB in one POST ?digest= (informational)", "MB/s", null, true, "not supported (202)"));
            return;
        }

        var samples = await TimedRunsAsync(2, options.BlobSize, async blob =>
        {
            if (!await client.TryPushSinglePostAsync(repo, blob, ct))
            {
                throw new BenchException("POST ?digest= answered 202 for a large blob after 201 for a small one");
            }
        }, ct);
        _result.Metrics.Add(new Metric("push_single_post_mbps", $"Push {options.BlobSize / BenchOptions.MiB} MiB in one POST ?digest= (informational)", "MB/s", Median(samples), true, null, samples));
    }

    private async Task PushChunkedAsync(RegistryClient client, CancellationToken ct)
    {
        var repo = Repo("blobs");
        PatternBlob? last = null;
        var samples = await TimedRunsAsync(3, options.BlobSize, async blob =>
        {
            await client.PushChunkedAsync(repo, blob, options.ChunkSize, ct);
            last = blob;
        }, ct);
        _pullable = last;
        _pullRepository = repo;
        _result.Metrics.Add(new Metric("push_chunked_mbps", $"Push {options.BlobSize / BenchOptions.MiB} MiB in {options.ChunkSize / BenchOptions.MiB} MiB chunks (POST, PATCH×{options.BlobSize / options.ChunkSize}, PUT)", "MB/s", Median(samples), true, null, samples));
    }

    private async Task PullAsync(RegistryClient client, CancellationToken ct)
    {
        if (_pullable is null)
        {
            _pullable = new PatternBlob(options.BlobSize, SeedFor(3, 99));
            _pullRepository = Repo("blobs");
            await client.PushMonolithicAsync(_pullRepository, _pullable, ct); // only when push-chunked did not run
        }

        var blob = _pullable;
        await client.PullAsync(_pullRepository!, blob.Digest, blob.Size, ct); // warm-up, not timed
        var samples = new double[options.PullRuns];
        for (var run = 0; run < samples.Length; run++)
        {
            await DiskSettle.WaitAsync(log, ct);
            var watch = Stopwatch.StartNew();
            await client.PullAsync(_pullRepository!, blob.Digest, blob.Size, ct);
            samples[run] = blob.Size / MB / watch.Elapsed.TotalSeconds;
            log.WriteLine($"  run {run + 1}: {samples[run]:F0} MB/s");
        }

        _result.Metrics.Add(new Metric("pull_mbps", $"Pull {blob.Size / BenchOptions.MiB} MiB (GET, streamed, discarded)", "MB/s", Median(samples), true, "page cache warm on both sides", samples));
    }

    private async Task ManifestLoadAsync(RegistryClient client, CancellationToken ct)
    {
        var repo = Repo("manifest");
        var manifest = await client.PushSmallImageAsync(repo, _runId, SeedFor(4, 0), ct);
        await client.PutManifestAsync(repo, "latest", manifest, ct);
        var url = client.Resolve($"/v2/{repo}/manifests/latest");

        // One checked request: the body is the manifest as pushed, with its media type.
        using (var check = new HttpRequestMessage(HttpMethod.Get, url))
        {
            check.Headers.TryAddWithoutValidation("Accept", RegistryClient.OciManifest);
            using var response = await client.Http.SendAsync(check, ct);
            await RegistryClient.ExpectAsync(response, HttpStatusCode.OK, "manifest GET");
            var body = await response.Content.ReadAsByteArrayAsync(ct);
            if (!body.AsSpan().SequenceEqual(manifest) || response.Content.Headers.ContentType?.MediaType != RegistryClient.OciManifest)
            {
                throw new BenchException($"manifest GET returned {body.Length} bytes of {response.Content.Headers.ContentType}, not the {manifest.Length} bytes pushed as {RegistryClient.OciManifest}");
            }
        }

        using var http = RegistryClient.CreateHttpClient(options.Connections);
        http.Timeout = TimeSpan.FromSeconds(30);
        var load = await ManifestLoad.RunAsync(http, () => url, options.Connections, options.Warmup, options.Duration, manifest.Length, ct);
        var (rps, errors) = (load.RequestsPerSecond, load.Errors);
        var note = $"{options.Connections} connections, {options.Duration.TotalSeconds:F0} s after {options.Warmup.TotalSeconds:F0} s warm-up, {errors} errors";
        log.WriteLine($"  {rps:F0} req/s, p50 {load.Ms(0.5):F2} ms, p99 {load.Ms(0.99):F2} ms, {errors} errors");
        _result.Metrics.Add(new Metric("manifest_get_rps", "Manifest GET by tag (Accept: OCI manifest)", "req/s", rps, true, note));
        _result.Metrics.Add(new Metric("manifest_get_p50_ms", "Manifest GET latency p50", "ms", load.Ms(0.5), false));
        _result.Metrics.Add(new Metric("manifest_get_p99_ms", "Manifest GET latency p99", "ms", load.Ms(0.99), false));
        if (errors > 0)
        {
            _result.Errors.Add($"manifest-get: {errors} requests failed");
        }
    }

    private int _tagsCreated;

    private async Task CreateTagsAsync(RegistryClient client, CancellationToken ct)
    {
        var repo = Repo("tags");
        var manifest = await client.PushSmallImageAsync(repo, _runId, SeedFor(5, 0), ct);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(options.TagsTimeout);
        var next = -1;
        var created = 0;
        var firstError = (string?)null;
        var watch = Stopwatch.StartNew();
        var progress = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, options.TagConcurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < options.Tags && firstError is null)
            {
                try
                {
                    await client.PutManifestAsync(repo, TagName(i), manifest, deadline.Token);
                }
                catch (Exception e) when (e is BenchException or HttpRequestException or OperationCanceledException)
                {
                    Interlocked.CompareExchange(ref firstError, e is OperationCanceledException ? $"timed out after {options.TagsTimeout.TotalSeconds:F0} s" : e.Message, null);
                    return;
                }

                var done = Interlocked.Increment(ref created);
                if (done % 1000 == 0)
                {
                    lock (progress)
                    {
                        log.WriteLine($"  {done} tags, {watch.Elapsed.TotalSeconds:F1} s (last 1000: {progress.Elapsed.TotalSeconds:F1} s)");
                        progress.Restart();
                    }
                }
            }
        }, CancellationToken.None)).ToArray();
        await Task.WhenAll(workers);
        _tagsCreated = created;
        _result.Metrics.Add(new Metric("tags_created", "Tags created for the listing test", "tags", created, true, created < options.Tags ? $"PARTIAL: {created} of {options.Tags:N0}" : null));
        var rate = created / watch.Elapsed.TotalSeconds;
        _result.Metrics.Add(new Metric("tag_put_rps", $"Manifest PUT under {options.Tags:N0} tags (informational)", "req/s", rate, true,
            $"{options.TagConcurrency} concurrent, {created} created in {watch.Elapsed.TotalSeconds:F1} s"));
        if (firstError is not null)
        {
            throw new BenchException($"tag creation stopped after {created} tags: {firstError}");
        }
    }

    private static string TagName(int i) => "t" + i.ToString("D5", CultureInfo.InvariantCulture);

    private async Task ListTagsAsync(RegistryClient client, CancellationToken ct)
    {
        if (_tagsCreated == 0)
        {
            throw new BenchException("no tags were created");
        }

        var repo = Repo("tags");
        var (count, pages, _) = await ListAllAsync(client, repo, ct); // warm-up
        if (count != _tagsCreated)
        {
            throw new BenchException($"the listing holds {count} tags, {_tagsCreated} were created");
        }

        var samples = new double[options.ListRuns];
        for (var run = 0; run < samples.Length; run++)
        {
            (count, pages, samples[run]) = await ListAllAsync(client, repo, ct);
            if (count != _tagsCreated)
            {
                throw new BenchException($"the listing holds {count} tags, {_tagsCreated} were created");
            }
        }

        log.WriteLine($"  {count} tags in {pages} page(s): median {Median(samples):F1} ms");
        _result.Metrics.Add(new Metric("tags_list_ms", $"Full tags list of {count:N0} tags (following Link)", "ms", Median(samples), false,
            $"{pages} page(s); median of {samples.Length} after 1 warm-up", samples));
    }

    /// <summary>
    /// Where the listings' bodies are read: one buffer for every listing (it grows in the warm-up
    /// only), so the client allocates nothing per response. A new ~90 KB array per response (what
    /// <c>ReadAsByteArrayAsync</c> does) put the client's own garbage collections into the timings.
    /// </summary>
    private byte[] _listing = new byte[1 << 20];

    /// <summary>
    /// GETs the tags list and follows <c>Link: &lt;…&gt;; rel="next"</c> until the end. Only the HTTP
    /// exchanges are timed: the bodies are kept as bytes and parsed afterwards (the client's JSON
    /// work would otherwise be added to both registries' figures). Returns the distinct tags seen.
    /// </summary>
    private async Task<(int Tags, int Pages, double Ms)> ListAllAsync(RegistryClient client, string repo, CancellationToken ct)
    {
        var bodies = new List<Range>();
        var used = 0;
        var url = client.Resolve($"/v2/{repo}/tags/list");
        var watch = Stopwatch.StartNew();
        while (url is not null)
        {
            if (bodies.Count >= 100_000)
            {
                throw new BenchException("more than 100,000 pages of tags: the Link headers loop");
            }

            using var response = await client.Http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, ct);
            await RegistryClient.ExpectAsync(response, HttpStatusCode.OK, "tags list");
            var start = used;
            await using (var body = await response.Content.ReadAsStreamAsync(ct))
            {
                int read;
                do
                {
                    if (used == _listing.Length)
                    {
                        Array.Resize(ref _listing, _listing.Length * 2);
                    }

                    read = await body.ReadAsync(_listing.AsMemory(used), ct);
                    used += read;
                }
                while (read > 0);
            }

            bodies.Add(start..used);
            url = NextLink(client, response);
        }

        var ms = watch.Elapsed.TotalMilliseconds;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var body in bodies)
        {
            using var json = JsonDocument.Parse(_listing.AsMemory(body));
            if (json.RootElement.TryGetProperty("tags", out var tags) && tags.ValueKind == JsonValueKind.Array)
            {
                foreach (var tag in tags.EnumerateArray())
                {
                    seen.Add(tag.GetString() ?? "");
                }
            }
        }

        return (seen.Count, bodies.Count, ms);
    }

    private static Uri? NextLink(RegistryClient client, HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("Link", out var values))
        {
            return null;
        }

        foreach (var value in values)
        {
            foreach (var part in value.Split(','))
            {
                var open = part.IndexOf('<', StringComparison.Ordinal);
                var close = part.IndexOf('>', StringComparison.Ordinal);
                if (open >= 0 && close > open && part.Contains("rel=\"next\"", StringComparison.Ordinal))
                {
                    return client.Resolve(part[(open + 1)..close]);
                }
            }
        }

        return null;
    }

    private PatternBlob? _big;

    private async Task BigPushAsync(RegistryClient client, CancellationToken ct)
    {
        var repo = Repo("big");
        var blob = new PatternBlob(options.BigSize, SeedFor(6, 0));
        var hashing = Stopwatch.StartNew();
        _ = blob.Digest;
        log.WriteLine($"  digest computed in {hashing.Elapsed.TotalSeconds:F1} s (not timed)");
        await DiskSettle.WaitAsync(log, ct);
        var watch = Stopwatch.StartNew();
        await client.PushChunkedAsync(repo, blob, options.BigChunkSize, ct);
        var mbps = blob.Size / MB / watch.Elapsed.TotalSeconds;
        log.WriteLine($"  {mbps:F0} MB/s");
        _big = blob;
        _result.Metrics.Add(new Metric("big_push_mbps", $"Push {options.BigSize / BenchOptions.MiB / 1024} GiB in {options.BigChunkSize / BenchOptions.MiB} MiB chunks", "MB/s", mbps, true));
    }

    private async Task BigPullAsync(RegistryClient client, CancellationToken ct)
    {
        var blob = _big ?? throw new BenchException("the big blob was not pushed");
        await DiskSettle.WaitAsync(log, ct);
        var watch = Stopwatch.StartNew();
        await client.PullAsync(Repo("big"), blob.Digest, blob.Size, ct);
        var mbps = blob.Size / MB / watch.Elapsed.TotalSeconds;
        log.WriteLine($"  {mbps:F0} MB/s");
        _result.Metrics.Add(new Metric("big_pull_mbps", $"Pull {options.BigSize / BenchOptions.MiB / 1024} GiB", "MB/s", mbps, true));
    }

    internal static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
