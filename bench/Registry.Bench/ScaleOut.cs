using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Registry.Bench;

/// <summary>
/// The scale-out load: the same phases against one or several registry processes of one cluster,
/// each request sent to the next process in turn (round robin), plus a sequential probe of the
/// cost of a cross-silo grain call on the manifest GET path.
/// </summary>
/// <param name="CreateOnly">Only the repository creation phase (<c>--create-only</c>), for measuring the catalog alone.</param>
public sealed record ScaleOutOptions(IReadOnlyList<Uri> Urls, IReadOnlyList<int> Pids, int? StoragePid, string Label, bool Quick, string? JsonPath, bool CreateOnly = false)
{
    public static readonly string[] PhaseNames = ["manifest-get", "tag-setup", "tag-put", "repo-create", "blob-push", "cross-silo"];

    public int Connections => 64;

    public TimeSpan Warmup => TimeSpan.FromSeconds(Quick ? 1 : 2);

    public TimeSpan Window => TimeSpan.FromSeconds(Quick ? 3 : 8);

    public int TagRepositories => Quick ? 16 : 64;

    public int TagPuts => Quick ? 400 : 4_000;

    public int TagConcurrency => 16;

    public long SmallBlobSize => BenchOptions.MiB;

    public int BlobPushes => Quick ? 40 : 400;

    public int BlobConcurrency => 8;

    /// <summary>New repositories of the <c>repo-create</c> phase, each created by its first push.</summary>
    public int CreateRepositories => Quick ? 32 : 128;

    public int CreateConcurrency => 16;

    /// <summary>The most the <c>repo-create</c> phase may run; what is not created by then counts as not created.</summary>
    public TimeSpan CreateLimit => TimeSpan.FromSeconds(60);

    public int BlobRepositories => 16;

    /// <summary>The most a bounded phase (tag PUTs, blob pushes, the cross-silo probe) may run.</summary>
    public TimeSpan PhaseLimit => TimeSpan.FromSeconds(Quick ? 3 : 10);

    public int HopRepositories => Quick ? 2 : 4;

    public int HopRounds => Quick ? 100 : 500;

    public int HopWarmup => Quick ? 10 : 20;

    /// <summary>Rounds the cross-silo probe runs even when its time is up (a second or two of sequential GETs).</summary>
    public int HopMinRounds => Quick ? 20 : 100;
}

/// <summary>One phase: wall time, CPU time of every registry process, of the storage emulator, of the client and of the rest of the machine.</summary>
public sealed record ScaleOutPhase(
    string Phase,
    double Seconds,
    long Operations,
    double? RegistryCpuSeconds,
    double[] ProcessCpuSeconds,
    double? StorageCpuSeconds,
    double ClientCpuSeconds,
    double? OtherCpuSeconds,
    string? Error = null);

/// <summary>
/// Sequential manifest GETs of one repository through each process: <see cref="Host"/> is the
/// index of the process whose silo activated the repository's grain (-1 when it could not be told).
/// </summary>
public sealed record HopProbe(string Repository, int CreatedThrough, int Host, string HostFoundBy, double[] P50Us, double[] P99Us, double[] MeanUs, int[] Count);

public sealed class ScaleOutResult
{
    public string Label { get; set; } = "";

    public List<string> Urls { get; set; } = [];

    public List<int> Pids { get; set; } = [];

    public int? StoragePid { get; set; }

    public string RunId { get; set; } = "";

    public DateTimeOffset Started { get; set; }

    public double TotalSeconds { get; set; }

    public bool Quick { get; set; }

    public List<Metric> Metrics { get; set; } = [];

    public List<ScaleOutPhase> Phases { get; set; } = [];

    public List<HopProbe> Hops { get; set; } = [];

    public List<double> RssAfterMiB { get; set; } = [];

    public List<string> Notes { get; set; } = [];

    public List<string> Errors { get; set; } = [];

    public Metric? Find(string key) => Metrics.FirstOrDefault(m => m.Key == key);

    public async Task SaveAsync(string path)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        await File.WriteAllTextAsync(path, JsonSerializer.Serialize(this, BenchResult.Json) + "\n");
    }

    public static async Task<ScaleOutResult> LoadAsync(string path)
        => JsonSerializer.Deserialize<ScaleOutResult>(await File.ReadAllTextAsync(path), BenchResult.Json)
            ?? throw new BenchException($"{path} holds no result");

    public string ToMarkdown()
    {
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"{Label}: {string.Join(", ", Urls)}, run {RunId}, {TotalSeconds:F0} s{(Quick ? " (quick)" : "")}");
        md.AppendLine();
        md.AppendLine("| Metric | Value | Unit | Note |");
        md.AppendLine("|---|---:|---|---|");
        foreach (var m in Metrics)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| {m.Name} | {BenchResult.Format(m.Value)} | {m.Unit} | {m.Note ?? ""} |");
        }

        md.AppendLine();
        md.AppendLine("| Phase | Wall s | Requests | Registry CPU s | per process | Azurite CPU s | Client CPU s | Other CPU s |");
        md.AppendLine("|---|---:|---:|---:|---|---:|---:|---:|");
        foreach (var p in Phases)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| {p.Phase}{(p.Error is null ? "" : " (failed)")} | {p.Seconds:F1} | {p.Operations} | {BenchResult.Format(p.RegistryCpuSeconds)} | {string.Join(" + ", p.ProcessCpuSeconds.Select(c => BenchResult.Format(c)))} | {BenchResult.Format(p.StorageCpuSeconds)} | {BenchResult.Format(p.ClientCpuSeconds)} | {BenchResult.Format(p.OtherCpuSeconds)} |");
        }

        foreach (var e in Errors)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"\nERROR: {e}");
        }

        return md.ToString();
    }
}

public sealed class ScaleOutBenchmark(ScaleOutOptions options, TextWriter log)
{
    private const double MB = 1_000_000;
    private readonly ScaleOutResult _result = new();
    private readonly string _runId = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture) + "-" + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()[..3]);
    private readonly double _frequency = Stopwatch.Frequency;
    private RegistryClient[] _clients = [];
    private ProcessProbe[] _probes = [];
    private ProcessProbe? _storage;
    private long _next;
    private string _source = "";
    private byte[] _manifest = [];
    private (string Digest, long Size)[] _blobs = [];

    private int N => _clients.Length;

    private string Repo(string stream) => $"scale-{_runId}/{stream}";

    private ulong SeedFor(int test, int run) => ((ulong)(uint)_runId.GetHashCode(StringComparison.Ordinal) << 32) | ((ulong)test << 16) | (uint)run;

    /// <summary>The process the next request goes to (round robin over all of them).</summary>
    private int NextIndex() => (int)((ulong)Interlocked.Increment(ref _next) % (ulong)N);

    public async Task<ScaleOutResult> RunAsync(CancellationToken ct)
    {
        var total = Stopwatch.StartNew();
        _result.Label = options.Label;
        _result.Urls = [.. options.Urls.Select(u => u.ToString())];
        _result.Pids = [.. options.Pids];
        _result.StoragePid = options.StoragePid;
        _result.RunId = _runId;
        _result.Started = DateTimeOffset.UtcNow;
        _result.Quick = options.Quick;
        var loadAtStart = SystemCpu.LoadAverage();
        _clients = [.. options.Urls.Select(u => new RegistryClient(u, options.Connections))];
        _probes = [.. options.Pids.Select(p => new ProcessProbe(p))];
        _storage = options.StoragePid is { } sp ? new ProcessProbe(sp) : null;
        try
        {
            foreach (var client in _clients)
            {
                if (!await client.PingAsync(ct))
                {
                    throw new BenchException($"{client.Base} did not answer GET /v2/ with 200");
                }
            }

            await PrepareSourceAsync(ct);
            if (options.CreateOnly)
            {
                await PhaseAsync("repo-create", () => RepoCreateAsync(ct));
                return Finish();
            }

            await PhaseAsync("manifest-get", () => ManifestGetAsync(ct));
            var tagRepos = Enumerable.Range(0, options.TagRepositories).Select(i => Repo($"tags-{i:D4}")).ToArray();
            await PhaseAsync("tag-setup", async () =>
            {
                tagRepos = await MountIntoAsync(tagRepos, ct);
                return tagRepos.Length * _blobs.Length;
            });
            await PhaseAsync("tag-put", () => TagPutAsync(tagRepos, ct));
            await PhaseAsync("repo-create", () => RepoCreateAsync(ct));
            var blobs = PrepareBlobs();
            await PhaseAsync("blob-push", () => BlobPushAsync(blobs, ct));
            await PhaseAsync("cross-silo", () => CrossSiloAsync(ct));
        }
        finally
        {
            _result.RssAfterMiB = [.. _probes.Select(p => (p.Read()?.VmRssKiB ?? 0) / 1024.0)];
            foreach (var probe in _probes)
            {
                await probe.DisposeAsync();
            }

            if (_storage is not null)
            {
                await _storage.DisposeAsync();
            }

            foreach (var client in _clients)
            {
                client.Dispose();
            }
        }

        return Finish();

        ScaleOutResult Finish()
        {
            _result.Notes.Add($"{options.Label}: load average {loadAtStart} at start, {SystemCpu.LoadAverage()} at end (nproc {Environment.ProcessorCount}).");
            _result.TotalSeconds = total.Elapsed.TotalSeconds;
            return _result;
        }
    }

    private async Task PhaseAsync(string name, Func<Task<long>> body)
    {
        log.WriteLine($"[{DateTime.Now:HH:mm:ss}] {options.Label}: {name} ...");
        var before = _probes.Select(p => p.Read()).ToArray();
        var storageBefore = _storage?.Read();
        var clientBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var systemBefore = SystemCpu.BusySeconds();
        var watch = Stopwatch.StartNew();
        string? error = null;
        long operations = 0;
        try
        {
            operations = await body();
        }
        catch (Exception e) when (e is BenchException or HttpRequestException or IOException or TaskCanceledException or JsonException)
        {
            error = e.Message;
            _result.Errors.Add($"{name}: {e.Message}");
            log.WriteLine($"  FAILED: {e.Message}");
        }

        var seconds = watch.Elapsed.TotalSeconds;
        var after = _probes.Select(p => p.Read()).ToArray();
        var storageAfter = _storage?.Read();
        var clientCpu = (Process.GetCurrentProcess().TotalProcessorTime - clientBefore).TotalSeconds;
        var systemCpu = SystemCpu.BusySeconds() - systemBefore;
        var perProcess = before.Zip(after, (b, a) => b is { } x && a is { } y ? y.CpuSeconds - x.CpuSeconds : double.NaN).ToArray();
        double? registryCpu = perProcess.Any(double.IsNaN) ? null : perProcess.Sum();
        double? storageCpu = storageBefore is { } sb && storageAfter is { } sa ? sa.CpuSeconds - sb.CpuSeconds : null;
        double? other = registryCpu is { } r ? Math.Max(0, systemCpu - r - (storageCpu ?? 0) - clientCpu) : null;
        _result.Phases.Add(new ScaleOutPhase(name, seconds, operations, registryCpu, perProcess, storageCpu, clientCpu, other, error));
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {seconds:F1} s, {operations} requests, registry CPU {registryCpu:F2} s, Azurite CPU {storageCpu:F2} s"));
    }

    /// <summary>A small image (config + 1 layer) in a source repository, its manifest tagged <c>latest</c>; checked through every process.</summary>
    private async Task PrepareSourceAsync(CancellationToken ct)
    {
        _source = Repo("source");
        _manifest = await _clients[0].PushSmallImageAsync(_source, _runId, SeedFor(1, 0), ct);
        await _clients[0].PutManifestAsync(_source, "latest", _manifest, ct);
        using (var json = JsonDocument.Parse(_manifest))
        {
            var root = json.RootElement;
            _blobs = [.. new[] { root.GetProperty("config") }.Concat(root.GetProperty("layers").EnumerateArray())
                .Select(d => (d.GetProperty("digest").GetString()!, d.GetProperty("size").GetInt64()))];
        }

        foreach (var client in _clients)
        {
            using var check = new HttpRequestMessage(HttpMethod.Get, client.Resolve($"/v2/{_source}/manifests/latest"));
            check.Headers.TryAddWithoutValidation("Accept", RegistryClient.OciManifest);
            using var response = await client.Http.SendAsync(check, ct);
            await RegistryClient.ExpectAsync(response, HttpStatusCode.OK, $"manifest GET through {client.Base}");
            var body = await response.Content.ReadAsByteArrayAsync(ct);
            if (!body.AsSpan().SequenceEqual(_manifest))
            {
                throw new BenchException($"{client.Base} returned {body.Length} bytes for the manifest, not the {_manifest.Length} bytes pushed through {_clients[0].Base}");
            }
        }
    }

    /// <summary>64 connections loop GET by tag, each request to the next process; 2 s warm-up, 8 s window.</summary>
    private async Task<long> ManifestGetAsync(CancellationToken ct)
    {
        var urls = _clients.Select(c => c.Resolve($"/v2/{_source}/manifests/latest")).ToArray();
        using var http = RegistryClient.CreateHttpClient(options.Connections);
        http.Timeout = TimeSpan.FromSeconds(30);
        var load = await ManifestLoad.RunAsync(http, () => urls[NextIndex()], options.Connections, options.Warmup, options.Window, _manifest.Length, ct);
        var (rps, errors) = (load.RequestsPerSecond, load.Errors);
        log.WriteLine($"  {rps:F0} req/s, p50 {load.Ms(0.5):F2} ms, p99 {load.Ms(0.99):F2} ms, {errors} errors");
        var note = $"{options.Connections} connections, {options.Window.TotalSeconds:F0} s after {options.Warmup.TotalSeconds:F0} s warm-up, {errors} errors";
        _result.Metrics.Add(new Metric("manifest_get_rps", "Manifest GET by tag, 64 connections", "req/s", rps, true, note));
        _result.Metrics.Add(new Metric("manifest_get_p50_ms", "Manifest GET latency p50", "ms", load.Ms(0.5), false));
        _result.Metrics.Add(new Metric("manifest_get_p99_ms", "Manifest GET latency p99", "ms", load.Ms(0.99), false));
        if (errors > 0)
        {
            _result.Errors.Add($"manifest-get: {errors} requests failed");
        }

        return load.Succeeded;
    }

    /// <summary>
    /// Makes the source image's blobs part of the repositories (cross-repository mounts), so
    /// manifests can be tagged there; returns those that were set up within the phase limit
    /// (creating a repository adds it to the one catalog grain, one write at a time).
    /// </summary>
    private async Task<string[]> MountIntoAsync(string[] repositories, CancellationToken ct)
    {
        var next = -1;
        var ready = new bool[repositories.Length];
        var deadline = Stopwatch.GetTimestamp() + (long)(options.PhaseLimit.TotalSeconds * _frequency);
        var workers = Enumerable.Range(0, options.TagConcurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while (Stopwatch.GetTimestamp() < deadline && (i = Interlocked.Increment(ref next)) < repositories.Length)
            {
                foreach (var (digest, _) in _blobs)
                {
                    await _clients[NextIndex()].MountAsync(repositories[i], digest, _source, ct);
                }

                ready[i] = true;
            }
        }, ct)).ToArray();
        await Task.WhenAll(workers);
        var done = repositories.Where((_, i) => ready[i]).ToArray();
        log.WriteLine($"  {done.Length} of {repositories.Length} repositories set up");
        if (done.Length < repositories.Length)
        {
            _result.Notes.Add($"{options.Label}: tag-setup created {done.Length} of {repositories.Length} repositories within {options.PhaseLimit.TotalSeconds:F0} s; tag-put used those.");
        }

        return done.Length > 0 ? done : throw new BenchException("no repository was set up for the tag PUTs");
    }

    /// <summary>
    /// New repositories, each created by its first push of the small image (its two blobs mounted
    /// from the source, then the manifest PUT by tag: 3 requests, each to the next process), by
    /// concurrent workers; then the catalog is paged through each process and must list every
    /// repository whose push was acknowledged, at once.
    /// </summary>
    private async Task<long> RepoCreateAsync(CancellationToken ct)
    {
        var repositories = Enumerable.Range(0, options.CreateRepositories).Select(i => Repo($"new-{i:D4}")).ToArray();
        var latencies = new double[repositories.Length];
        var next = -1;
        var watch = Stopwatch.StartNew();
        var deadline = Stopwatch.GetTimestamp() + (long)(options.CreateLimit.TotalSeconds * _frequency);
        var workers = Enumerable.Range(0, options.CreateConcurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while (Stopwatch.GetTimestamp() < deadline && (i = Interlocked.Increment(ref next)) < repositories.Length)
            {
                var started = Stopwatch.GetTimestamp();
                foreach (var (digest, _) in _blobs)
                {
                    await _clients[NextIndex()].MountAsync(repositories[i], digest, _source, ct);
                }

                await _clients[NextIndex()].PutManifestAsync(repositories[i], "v1", _manifest, ct);
                latencies[i] = (Stopwatch.GetTimestamp() - started) * 1000.0 / _frequency;
            }
        }, ct)).ToArray();
        await Task.WhenAll(workers);
        var seconds = watch.Elapsed.TotalSeconds;
        var created = repositories.Where((_, i) => latencies[i] > 0).ToArray();
        var done = latencies.Where(l => l > 0).Order().ToArray();
        log.WriteLine($"  {created.Length} of {repositories.Length} repositories created in {seconds:F1} s");
        var note = $"{repositories.Length} repositories, {options.CreateConcurrency} concurrent, {created.Length} created";
        _result.Metrics.Add(new Metric("repo_create_rps", $"New repositories (first push: 2 mounts + manifest PUT), {options.CreateConcurrency} concurrent", "repos/s", created.Length / seconds, true, note));
        _result.Metrics.Add(new Metric("repo_create_p50_ms", "New repository latency p50", "ms", Percentile(done, 0.5), false));
        _result.Metrics.Add(new Metric("repo_create_p99_ms", "New repository latency p99", "ms", Percentile(done, 0.99), false));
        if (created.Length < repositories.Length)
        {
            _result.Errors.Add($"repo-create: {repositories.Length - created.Length} of {repositories.Length} repositories were not created within {options.CreateLimit.TotalSeconds:F0} s");
        }

        // The catalog lists every acknowledged repository at once (registration is durable before the push is acknowledged).
        var listWatch = Stopwatch.StartNew();
        foreach (var client in _clients)
        {
            var listed = await ListCatalogAfterAsync(client, Repo("new-"), ct);
            var missing = created.Except(listed, StringComparer.Ordinal).Count();
            if (missing > 0 || !listed.SequenceEqual(listed.Order(StringComparer.Ordinal)))
            {
                _result.Errors.Add($"repo-create: the catalog through {client.Base} missed {missing} of {created.Length} created repositories or was out of order");
            }
        }

        var listMs = listWatch.Elapsed.TotalMilliseconds / N;
        _result.Metrics.Add(new Metric("repo_create_list_ms", "Catalog read of those repositories, pages of 50", "ms", listMs, false));
        return created.Length * (_blobs.Length + 1);
    }

    /// <summary>The repositories the catalog lists after <paramref name="after"/> that start with it, paged by 50 through its Link headers.</summary>
    private static async Task<List<string>> ListCatalogAfterAsync(RegistryClient client, string after, CancellationToken ct)
    {
        var names = new List<string>();
        string? next = $"/v2/_catalog?n=50&last={Uri.EscapeDataString(after)}";
        while (next is not null)
        {
            using var response = await client.Http.GetAsync(client.Resolve(next), ct);
            await RegistryClient.ExpectAsync(response, HttpStatusCode.OK, "catalog page");
            using var json = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync(ct));
            var page = json.RootElement.GetProperty("repositories").EnumerateArray().Select(e => e.GetString()!).ToArray();
            names.AddRange(page.Where(n => n.StartsWith(after, StringComparison.Ordinal)));
            next = page.Length > 0 && page[^1].StartsWith(after, StringComparison.Ordinal) && response.Headers.TryGetValues("Link", out var link)
                ? link.First().Split(';')[0].Trim('<', '>', ' ')
                : null;
        }

        return names;
    }

    private static double? Percentile(double[] sorted, double q)
        => sorted.Length == 0 ? null : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

    /// <summary>
    /// Tag PUTs spread over many repositories: PUT i tags a manifest of its own (an annotation
    /// carries i, so every PUT stores new bytes) as <c>t&lt;round&gt;</c> in repository i mod R.
    /// </summary>
    private async Task<long> TagPutAsync(string[] repositories, CancellationToken ct)
    {
        var text = Encoding.UTF8.GetString(_manifest);
        var marker = $"\"org.example.bench.run\":\"{_runId}\"";
        if (!text.Contains(marker, StringComparison.Ordinal))
        {
            throw new BenchException("the source manifest has no run annotation to vary");
        }

        var manifests = Enumerable.Range(0, options.TagPuts)
            .Select(i => Encoding.UTF8.GetBytes(text.Replace(marker, $"\"org.example.bench.run\":\"{_runId}-{i}\"", StringComparison.Ordinal)))
            .ToArray();
        var (done, seconds, latencies, errors) = await BoundedAsync(options.TagPuts, options.TagConcurrency, async (i, client) =>
        {
            var repository = repositories[i % repositories.Length];
            var tag = "t" + (i / repositories.Length).ToString("D5", CultureInfo.InvariantCulture);
            await client.PutManifestAsync(repository, tag, manifests[i], ct);
        }, ct);
        var rate = done / seconds;
        log.WriteLine($"  {done} PUTs in {seconds:F1} s: {rate:F0} req/s, p50 {Ms(latencies, 0.5):F1} ms, p99 {Ms(latencies, 0.99):F1} ms, {errors} errors");
        _result.Metrics.Add(new Metric("tag_put_rps", $"Tag PUT (manifest PUT by tag) over {repositories.Length} repositories, {options.TagConcurrency} concurrent", "req/s", rate, true,
            $"{done} of at most {options.TagPuts:N0} in {seconds:F1} s (limit {options.PhaseLimit.TotalSeconds:F0} s), {errors} errors"));
        _result.Metrics.Add(new Metric("tag_put_p50_ms", "Tag PUT latency p50", "ms", Ms(latencies, 0.5), false));
        _result.Metrics.Add(new Metric("tag_put_p99_ms", "Tag PUT latency p99", "ms", Ms(latencies, 0.99), false));
        return done;
    }

    private PatternBlob[] PrepareBlobs()
    {
        var blobs = Enumerable.Range(0, options.BlobPushes).Select(i => new PatternBlob(options.SmallBlobSize, SeedFor(7, i))).ToArray();
        foreach (var blob in blobs)
        {
            _ = blob.Digest; // hashed before the phase, not timed
        }

        return blobs;
    }

    /// <summary>1 MiB blobs, each pushed monolithically (POST, then one PUT ?digest= with the body) through one process.</summary>
    private async Task<long> BlobPushAsync(PatternBlob[] blobs, CancellationToken ct)
    {
        var (done, seconds, latencies, errors) = await BoundedAsync(blobs.Length, options.BlobConcurrency,
            (i, client) => client.PushMonolithicAsync(Repo($"blobs-{i % options.BlobRepositories:D2}"), blobs[i], ct), ct);
        var rate = done / seconds;
        log.WriteLine($"  {done} pushes in {seconds:F1} s: {rate:F0} ops/s, p50 {Ms(latencies, 0.5):F1} ms, {errors} errors");
        _result.Metrics.Add(new Metric("blob_push_ops", $"Blob push, {options.SmallBlobSize / BenchOptions.MiB} MiB monolithic, {options.BlobConcurrency} concurrent", "ops/s", rate, true,
            $"{done} of at most {blobs.Length} in {seconds:F1} s (limit {options.PhaseLimit.TotalSeconds:F0} s), {errors} errors"));
        _result.Metrics.Add(new Metric("blob_push_mbps", "Blob push throughput", "MB/s", rate * options.SmallBlobSize / MB, true));
        _result.Metrics.Add(new Metric("blob_push_p50_ms", "Blob push latency p50 (POST + PUT)", "ms", Ms(latencies, 0.5), false));
        return done * 2;
    }

    /// <summary>
    /// Runs <paramref name="operation"/> for indexes 0..count-1 on <paramref name="concurrency"/>
    /// workers, each operation through the next process, until all ran or the phase limit passed.
    /// </summary>
    private async Task<(long Done, double Seconds, long[] Latencies, long Errors)> BoundedAsync(int count, int concurrency, Func<int, RegistryClient, Task> operation, CancellationToken ct)
    {
        var next = -1;
        long done = 0, errors = 0;
        string? firstError = null;
        var latencies = new List<long>[concurrency];
        var deadline = Stopwatch.GetTimestamp() + (long)(options.PhaseLimit.TotalSeconds * _frequency);
        var watch = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, concurrency).Select(w =>
        {
            var mine = latencies[w] = [];
            return Task.Run(async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < count && Stopwatch.GetTimestamp() < deadline)
                {
                    var t0 = Stopwatch.GetTimestamp();
                    try
                    {
                        await operation(i, _clients[NextIndex()]);
                    }
                    catch (Exception e) when (e is BenchException or HttpRequestException)
                    {
                        Interlocked.Increment(ref errors);
                        Interlocked.CompareExchange(ref firstError, e.Message, null);
                        continue;
                    }

                    mine.Add(Stopwatch.GetTimestamp() - t0);
                    Interlocked.Increment(ref done);
                }
            }, ct);
        }).ToArray();
        await Task.WhenAll(workers);
        var seconds = watch.Elapsed.TotalSeconds;
        if (errors > 0)
        {
            _result.Errors.Add($"{errors} requests failed; first: {firstError}");
        }

        return (done, seconds, [.. latencies.SelectMany(l => l).Order()], errors);
    }

    /// <summary>
    /// The cost of a cross-silo grain call on the request path. A manifest GET by tag is one grain
    /// call (the repository grain resolves the tag) plus bytes from the process's manifest cache.
    /// For a few fresh repositories, the silo that activated the grain is read from the processes'
    /// <c>orleans_catalog_activation_created_total{grain_type="repository"}</c>; then GETs are sent
    /// one at a time, in rounds over every repository and process, so that the same repository is
    /// read through its hosting process (a local grain call) and through the others (a remote one).
    /// </summary>
    private async Task<long> CrossSiloAsync(CancellationToken ct)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(options.PhaseLimit.TotalSeconds * _frequency);
        var repositories = Enumerable.Range(0, options.HopRepositories).Select(i => Repo($"hop-{i}")).ToArray();
        var hosts = new int[repositories.Length];
        var foundBy = new string[repositories.Length];
        for (var r = 0; r < repositories.Length; r++)
        {
            var before = await ActivationsAsync(ct);
            var through = _clients[r % N];
            foreach (var (digest, _) in _blobs)
            {
                await through.MountAsync(repositories[r], digest, _source, ct);
            }

            await through.PutManifestAsync(repositories[r], "latest", _manifest, ct);
            var after = await ActivationsAsync(ct);
            var grown = Enumerable.Range(0, N).Where(p => after[p] - before[p] > 0).ToArray();
            (hosts[r], foundBy[r]) = N == 1 ? (0, "the only process")
                : grown.Length == 1 ? (grown[0], "activation metrics")
                : (-1, $"unclear from metrics ({grown.Length} processes activated a repository grain)");
        }

        var urls = repositories.Select(repo => _clients.Select(c => c.Resolve($"/v2/{repo}/manifests/latest")).ToArray()).ToArray();
        async Task<long> GetAsync(int r, int p)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, urls[r][p]);
            request.Headers.TryAddWithoutValidation("Accept", RegistryClient.OciManifest);
            var t0 = Stopwatch.GetTimestamp();
            using var response = await _clients[p].Http.SendAsync(request, ct);
            var body = await response.Content.ReadAsByteArrayAsync(ct);
            var elapsed = Stopwatch.GetTimestamp() - t0;
            if (response.StatusCode != HttpStatusCode.OK || body.Length != _manifest.Length)
            {
                throw new BenchException($"sequential manifest GET through {_clients[p].Base}: HTTP {(int)response.StatusCode}, {body.Length} bytes");
            }

            return elapsed;
        }

        long requests = 0;
        for (var r = 0; r < repositories.Length; r++)
        {
            for (var p = 0; p < N; p++)
            {
                for (var k = 0; k < options.HopWarmup; k++)
                {
                    await GetAsync(r, p); // warms the connection, the manifest cache of p and its grain directory cache
                    requests++;
                }
            }
        }

        var samples = repositories.Select(_ => Enumerable.Range(0, N).Select(_ => new List<long>(options.HopRounds)).ToArray()).ToArray();
        var rounds = 0;
        for (; rounds < options.HopRounds && (rounds < options.HopMinRounds || Stopwatch.GetTimestamp() < deadline); rounds++)
        {
            for (var r = 0; r < repositories.Length; r++)
            {
                for (var k = 0; k < N; k++)
                {
                    var p = (k + rounds) % N; // rotate who goes first
                    samples[r][p].Add(await GetAsync(r, p));
                    requests++;
                }
            }
        }

        double Us(long ticks) => ticks * 1_000_000.0 / _frequency;
        double Quantile(List<long> values, double q)
        {
            var sorted = values.Order().ToArray();
            return sorted.Length == 0 ? double.NaN : Us(sorted[(int)Math.Round(q * (sorted.Length - 1))]);
        }

        for (var r = 0; r < repositories.Length; r++)
        {
            var p50 = samples[r].Select(s => Quantile(s, 0.5)).ToArray();
            if (hosts[r] < 0)
            {
                hosts[r] = Array.IndexOf(p50, p50.Min());
                foundBy[r] += "; taken as the fastest process";
            }

            _result.Hops.Add(new HopProbe(repositories[r], r % N, hosts[r], foundBy[r], p50, [.. samples[r].Select(s => Quantile(s, 0.99))],
                [.. samples[r].Select(s => s.Count == 0 ? double.NaN : Us((long)s.Average()))], [.. samples[r].Select(s => s.Count)]));
            log.WriteLine($"  {repositories[r]}: hosted by process {hosts[r] + 1} ({foundBy[r]}); p50 µs through each: {string.Join(", ", p50.Select(v => v.ToString("F0", CultureInfo.InvariantCulture)))}");
        }

        var local = new List<long>();
        var remote = new List<long>();
        for (var r = 0; r < repositories.Length; r++)
        {
            for (var p = 0; p < N; p++)
            {
                (p == hosts[r] ? local : remote).AddRange(samples[r][p]);
            }
        }

        var note = $"{rounds} rounds × {repositories.Length} repositories × {N} process(es), sequential, after {options.HopWarmup} warm-up GETs per pair";
        _result.Metrics.Add(new Metric("hop_local_p50_us", "Sequential manifest GET through the grain's own process, p50", "µs", Quantile(local, 0.5), false, note));
        _result.Metrics.Add(new Metric("hop_local_p99_us", "Sequential manifest GET through the grain's own process, p99", "µs", Quantile(local, 0.99), false));
        if (N > 1)
        {
            var localP50 = Quantile(local, 0.5);
            var remoteP50 = Quantile(remote, 0.5);
            _result.Metrics.Add(new Metric("hop_remote_p50_us", "Sequential manifest GET through another process, p50", "µs", remoteP50, false));
            _result.Metrics.Add(new Metric("hop_remote_p99_us", "Sequential manifest GET through another process, p99", "µs", Quantile(remote, 0.99), false));
            _result.Metrics.Add(new Metric("hop_cost_p50_us", "Cross-silo grain call cost (remote p50 − local p50)", "µs", remoteP50 - localP50, false));
            _result.Metrics.Add(new Metric("hop_cost_mean_us", "Cross-silo grain call cost (remote mean − local mean)", "µs", Us((long)remote.Average()) - Us((long)local.Average()), false));
            log.WriteLine($"  local p50 {localP50:F0} µs, remote p50 {remoteP50:F0} µs: a cross-silo call adds {remoteP50 - localP50:F0} µs");
        }

        return requests;
    }

    /// <summary>Each process's count of repository grain activations so far, from its <c>/metrics</c>.</summary>
    private async Task<double[]> ActivationsAsync(CancellationToken ct)
    {
        await Task.Delay(TimeSpan.FromMilliseconds(400), ct); // the exporter caches a scrape for 300 ms
        var counts = new double[N];
        for (var p = 0; p < N; p++)
        {
            var text = await _clients[p].Http.GetStringAsync(_clients[p].Resolve("/metrics"), ct);
            foreach (var line in text.Split('\n'))
            {
                if (line.StartsWith("orleans_catalog_activation_created_total{", StringComparison.Ordinal)
                    && line.Contains("grain_type=\"repository\"", StringComparison.Ordinal)
                    && double.TryParse(line[(line.LastIndexOf(' ') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                {
                    counts[p] += value;
                }
            }
        }

        return counts;
    }

    private double Ms(long[] sorted, double q) => sorted.Length == 0 ? double.NaN : sorted[(int)Math.Round(q * (sorted.Length - 1))] * 1000.0 / _frequency;
}
