using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Registry.Bench;

/// <param name="Url">This registry, on loopback.</param>
/// <param name="User">Its admin when access control is on (with <paramref name="Password"/>); null when it is off.</param>
internal sealed record ImageApiBenchOptions(Uri Url, int? Pid, string? User, string? Password, bool Quick, string OutPath, string Command, string Setup)
{
    /// <summary>Streams in the one big namespace, and in each of the small ones.</summary>
    public int BigNamespaceStreams => Quick ? 500 : 5_000;

    public int SmallNamespaces => Quick ? 10 : 100;

    public int SmallNamespaceStreams => 50;

    public int Streams => BigNamespaceStreams + (SmallNamespaces * SmallNamespaceStreams);

    /// <summary>Tags of the history stream, and history items of each.</summary>
    public int HistoryTags => Quick ? 20 : 100;

    public int HistoryItems => Quick ? 20 : 100;

    public int SeedConcurrency => 32;

    public int[] GetConcurrencies => [1, 4, 16];

    public TimeSpan Warmup => TimeSpan.FromSeconds(1);

    public TimeSpan Window => TimeSpan.FromSeconds(Quick ? 2 : 5);

    public int ListRepeats => 2;

    public int Watchers => Quick ? 20 : 100;

    public int SequentialPushes => Quick ? 5 : 20;

    public int BurstPushes => Quick ? 5 : 20;

    public int V2Connections => 32;

    /// <summary>Pairs of /v2 rounds (alone, with the image API's load), their order alternating.</summary>
    public int V2Pairs => Quick ? 2 : 4;

    public TimeSpan WatchTimeout => TimeSpan.FromSeconds(15);
}

/// <summary>
/// The image API under load (issue 15): GET of a stream with 100 tags × 100 history items, the
/// walk of 10,000 streams in pages (across namespaces and in one), the fan-out of pushes to 100
/// watchers, and <c>/v2</c> manifest GET alone against the same while the image API serves a
/// steady load, in alternating rounds of one run. Writes docs/benchmarks-image-api.md.
/// </summary>
internal sealed class ImageApiBench(ImageApiBenchOptions options, TextWriter log)
{
    private const string Api = "apis/image.openshift.io/v1/";
    private const string BigNamespace = "big";
    private const string HistoryRepository = "hist/app";
    private const string V2Repository = "v2bench/app";
    private const string FanNamespace = "fan";
    private const string SeedRepository = "seed/base";

    private readonly string _runId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
    private readonly List<string> _notes = [];
    private AuthenticationHeaderValue? _basic;
    private ProcessProbe? _probe;
    private byte[] _config = [];
    private byte[] _layer = [];
    private string _configDigest = "";
    private string _layerDigest = "";

    private bool AccessOn => _basic is not null;

    public async Task<int> RunAsync(CancellationToken ct)
    {
        var started = DateTime.UtcNow;
        var loadStart = File.ReadAllText("/proc/loadavg").Split(' ')[..3];
        if (options.User is { } user && options.Password is { } password)
        {
            _basic = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        }

        await using var probe = options.Pid is { } pid ? new ProcessProbe(pid) : null;
        _probe = probe;
        var seed = await SeedAsync(ct);
        using var api = RegistryClient.CreateHttpClient(64, await HeaderAsync($"repository:{HistoryRepository}:pull", ct));
        var get = await StreamGetAsync(api, ct);
        var lists = await ListWalksAsync(api, ct);
        var fanOut = await FanOutAsync(ct);
        var v2 = await V2ComparisonAsync(api, ct);
        var peak = _probe?.Read();

        var loadEnd = File.ReadAllText("/proc/loadavg").Split(' ')[..3];

        var page = Render(started, loadStart, loadEnd, seed, get, lists, fanOut, v2, peak);
        await File.WriteAllTextAsync(options.OutPath, page, ct);
        Console.WriteLine(page);
        var failed = get.Any(g => g.Loop.Errors > 0) || fanOut.Any(f => f.Missed > 0) || v2.Ratio < 0.95;
        return failed ? 1 : 0;
    }

    // --- seeding ---------------------------------------------------------------------------

    private sealed record SeedResult(int Streams, TimeSpan StreamsTime, int HistoryPushes, TimeSpan HistoryTime, int Requests);

    /// <summary>
    /// One config and one layer pushed once, then mounted into every stream, which gets a tag
    /// (one manifest, the same bytes everywhere); the history stream gets tags × items pushes of
    /// distinct tiny manifests by tag.
    /// </summary>
    private async Task<SeedResult> SeedAsync(CancellationToken ct)
    {
        using var http = RegistryClient.CreateHttpClient(options.SeedConcurrency + 4, _basic is null ? null : () => _basic);
        using var client = new RegistryClient(options.Url, http);
        if (!await client.PingAsync(ct))
        {
            throw new BenchException($"{options.Url} did not answer GET /v2/ with 200 (with the admin's credentials)");
        }

        _layer = new PatternBlob(4096, 7).ToArray();
        _config = Encoding.UTF8.GetBytes($$$"""{"architecture":"amd64","os":"linux","config":{"Labels":{"bench.run":"{{{_runId}}}"}},"rootfs":{"type":"layers","diff_ids":["sha256:{{{Convert.ToHexStringLower(SHA256.HashData(_layer))}}}"]}}""");
        _layerDigest = await client.PushSmallBlobAsync(SeedRepository, _layer, ct);
        _configDigest = await client.PushSmallBlobAsync(SeedRepository, _config, ct);
        var shared = Manifest(null);
        await client.PutManifestAsync(SeedRepository, "v1", shared, ct);

        var names = Enumerable.Range(0, options.BigNamespaceStreams).Select(i => $"{BigNamespace}/s-{i:D5}")
            .Concat(Enumerable.Range(0, options.SmallNamespaces).SelectMany(n => Enumerable.Range(0, options.SmallNamespaceStreams).Select(i => $"ns-{n:D3}/s-{i:D3}")))
            .ToArray();
        log.WriteLine($"[image-api] seeding {names.Length} streams ({options.BigNamespaceStreams} in {BigNamespace}, {options.SmallNamespaces} namespaces of {options.SmallNamespaceStreams})");
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = options.SeedConcurrency, CancellationToken = ct }, async (name, token) =>
        {
            await MountBothAsync(client, name, token);
            await client.PutManifestAsync(name, "v1", shared, token);
        });
        var streamsTime = clock.Elapsed;
        log.WriteLine($"[image-api] {names.Length} streams in {streamsTime.TotalSeconds:F1} s");

        await MountBothAsync(client, HistoryRepository, ct);
        var pushes = options.HistoryTags * options.HistoryItems;
        log.WriteLine($"[image-api] seeding {HistoryRepository}: {options.HistoryTags} tags × {options.HistoryItems} items");
        clock.Restart();

        // Round by round: every tag gets its next item, so all histories grow together.
        await Parallel.ForEachAsync(Enumerable.Range(0, pushes), new ParallelOptions { MaxDegreeOfParallelism = options.SeedConcurrency, CancellationToken = ct }, async (i, token) =>
            await client.PutManifestAsync(HistoryRepository, $"t-{i % options.HistoryTags:D3}", Manifest($"h-{i}"), token));
        var historyTime = clock.Elapsed;
        log.WriteLine($"[image-api] {pushes} tag pushes in {historyTime.TotalSeconds:F1} s");

        // The /v2 target and the streams the fan-out pushes go to (created before any watcher).
        await MountBothAsync(client, V2Repository, ct);
        await client.PutManifestAsync(V2Repository, "v1", shared, ct);
        await Parallel.ForEachAsync(Enumerable.Range(0, FanStreams), new ParallelOptions { MaxDegreeOfParallelism = options.SeedConcurrency, CancellationToken = ct }, async (i, token) =>
        {
            await MountBothAsync(client, FanRepository(i), token);
            await client.PutManifestAsync(FanRepository(i), "v0", shared, token);
        });
        return new SeedResult(names.Length, streamsTime, pushes, historyTime, (names.Length * 3) + pushes);
    }

    /// <summary>The fan-out scenarios' pushes go to distinct streams (a watch coalesces changes of one stream close together).</summary>
    private int FanStreams => options.SequentialPushes + options.BurstPushes;

    private static string FanRepository(int i) => $"{FanNamespace}/s-{i:D3}";

    private async Task MountBothAsync(RegistryClient client, string repository, CancellationToken ct)
    {
        await client.MountAsync(repository, _configDigest, SeedRepository, ct);
        await client.MountAsync(repository, _layerDigest, SeedRepository, ct);
    }

    /// <summary>An OCI manifest of the shared config and layer; a distinct annotation makes a distinct digest.</summary>
    private byte[] Manifest(string? distinct)
        => Encoding.UTF8.GetBytes(
            $$$"""{"schemaVersion":2,"mediaType":"{{{RegistryClient.OciManifest}}}","config":{"mediaType":"{{{RegistryClient.OciConfig}}}","digest":"{{{_configDigest}}}","size":{{{_config.Length}}}},"layers":[{"mediaType":"{{{RegistryClient.OciLayer}}}","digest":"{{{_layerDigest}}}","size":{{{_layer.Length}}}}],"annotations":{"bench.run":"{{{_runId}}}","bench.item":"{{{distinct ?? "shared"}}}"}}""");

    // --- GET of the big stream --------------------------------------------------------------

    /// <param name="CpuMs">The registry's CPU time per answered request (its CPU time over the loop, warm-up included, over the requests answered in it), or NaN.</param>
    private sealed record GetRow(string What, int Concurrency, LoopResult Loop, long Bytes, double CpuMs);

    private async Task<List<GetRow>> StreamGetAsync(HttpClient api, CancellationToken ct)
    {
        var rows = new List<GetRow>();
        var url = new Uri(options.Url, $"{Api}namespaces/hist/imagestreams/app");
        var (status, body) = await GetBytesAsync(api, url, ct);
        if (status != HttpStatusCode.OK)
        {
            throw new BenchException($"GET {url}: HTTP {(int)status}: {Encoding.UTF8.GetString(body)[..Math.Min(400, body.Length)]}");
        }

        using (var doc = JsonDocument.Parse(body))
        {
            var tags = doc.RootElement.GetProperty("status").GetProperty("tags");
            var items = tags.EnumerateArray().Sum(t => t.GetProperty("items").GetArrayLength());
            if (tags.GetArrayLength() != options.HistoryTags || items != options.HistoryTags * options.HistoryItems)
            {
                throw new BenchException($"{HistoryRepository} has {tags.GetArrayLength()} tags and {items} history items; expected {options.HistoryTags} × {options.HistoryItems}");
            }
        }

        foreach (var c in options.GetConcurrencies)
        {
            log.WriteLine($"[image-api] GET {HistoryRepository} as an image stream, {c} at a time");
            var (loop, cpu) = await WithCpuAsync(() => ClosedLoopAsync(c, buffer => CheckedGetAsync(api, url, body.Length, buffer, ct), ct));
            rows.Add(new GetRow($"`{HistoryRepository}`: {options.HistoryTags} tags × {options.HistoryItems} items", c, loop, body.Length, cpu));
        }

        var small = new Uri(options.Url, $"{Api}namespaces/{BigNamespace}/imagestreams/s-00000");
        var (_, smallBody) = await GetBytesAsync(api, small, ct);
        log.WriteLine("[image-api] GET of a one-tag stream, 4 at a time");
        var (smallLoop, smallCpu) = await WithCpuAsync(() => ClosedLoopAsync(4, buffer => CheckedGetAsync(api, small, smallBody.Length, buffer, ct), ct));
        rows.Add(new GetRow($"`{BigNamespace}/s-00000`: 1 tag × 1 item (for comparison)", 4, smallLoop, smallBody.Length, smallCpu));
        return rows;
    }

    /// <summary>A closed loop and the registry's CPU milliseconds per request answered in it (approximately: over warm-up and window).</summary>
    private async Task<(LoopResult Loop, double CpuMs)> WithCpuAsync(Func<Task<LoopResult>> run)
    {
        var before = _probe?.Read()?.CpuSeconds;
        var clock = Stopwatch.StartNew();
        var loop = await run();
        var after = _probe?.Read()?.CpuSeconds;
        return (loop, before is { } b && after is { } a ? (a - b) * 1000 / (loop.RequestsPerSecond * clock.Elapsed.TotalSeconds) : double.NaN);
    }

    /// <summary>One GET read to the end: true when it was 200 with <paramref name="length"/> bytes (the stream does not change meanwhile; -1: any length).</summary>
    private static async Task<bool> CheckedGetAsync(HttpClient http, Uri url, int length, byte[] buffer, CancellationToken ct)
    {
        try
        {
            using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, ct);
            await using var stream = await response.Content.ReadAsStreamAsync(ct);
            int read, received = 0;
            while ((read = await stream.ReadAsync(buffer, ct)) > 0)
            {
                received += read;
            }

            return response.StatusCode == HttpStatusCode.OK && (length < 0 || received == length);
        }
        catch (Exception e) when (e is HttpRequestException || (e is OperationCanceledException && ct.IsCancellationRequested))
        {
            return false;
        }
    }

    private static async Task<(HttpStatusCode Status, byte[] Body)> GetBytesAsync(HttpClient http, Uri url, CancellationToken ct)
    {
        using var response = await http.GetAsync(url, ct);
        return (response.StatusCode, await response.Content.ReadAsByteArrayAsync(ct));
    }

    // --- list walks -------------------------------------------------------------------------

    private sealed record Walk(string Scope, string Limit, int Streams, int Pages, TimeSpan Total, double[] PageMs, long Bytes);

    private sealed record WalkRow(string Scope, string Limit, List<Walk> Runs);

    private async Task<List<WalkRow>> ListWalksAsync(HttpClient api, CancellationToken ct)
    {
        var rows = new List<WalkRow>();
        foreach (var (scope, path) in new[] { ("across namespaces", $"{Api}imagestreams"), ($"namespace `{BigNamespace}`", $"{Api}namespaces/{BigNamespace}/imagestreams") })
        {
            foreach (var limit in new int?[] { 500, null })
            {
                var row = new WalkRow(scope, limit is { } l ? l.ToString(CultureInfo.InvariantCulture) : "none (10,000)", []);
                for (var r = 0; r < options.ListRepeats; r++)
                {
                    log.WriteLine($"[image-api] list walk {scope}, limit {row.Limit}, run {r + 1}");
                    row.Runs.Add(await WalkAsync(api, scope, row.Limit, path, limit, ct));
                }

                rows.Add(row);
            }
        }

        return rows;
    }

    /// <summary>Every page, following <c>metadata.continue</c>; a page's time is from the request to its last byte (parsing it is not counted).</summary>
    private async Task<Walk> WalkAsync(HttpClient api, string scope, string limitText, string path, int? limit, CancellationToken ct)
    {
        string? next = null;
        var pageMs = new List<double>();
        var streams = 0;
        long bytes = 0;
        var total = TimeSpan.Zero;
        do
        {
            var query = new List<string>();
            if (limit is { } l)
            {
                query.Add($"limit={l}");
            }

            if (next is not null)
            {
                query.Add($"continue={Uri.EscapeDataString(next)}");
            }

            var url = new Uri(options.Url, path + (query.Count > 0 ? "?" + string.Join('&', query) : ""));
            var clock = Stopwatch.StartNew();
            var (status, body) = await GetBytesAsync(api, url, ct);
            var elapsed = clock.Elapsed;
            if (status != HttpStatusCode.OK)
            {
                throw new BenchException($"GET {url}: HTTP {(int)status}: {Encoding.UTF8.GetString(body)[..Math.Min(400, body.Length)]}");
            }

            total += elapsed;
            pageMs.Add(elapsed.TotalMilliseconds);
            bytes += body.Length;
            using var doc = JsonDocument.Parse(body);
            streams += doc.RootElement.GetProperty("items").GetArrayLength();
            next = doc.RootElement.GetProperty("metadata").TryGetProperty("continue", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
            if (pageMs.Count > 10_000)
            {
                throw new BenchException($"{path}: more than 10,000 pages; the walk does not end");
            }
        }
        while (!string.IsNullOrEmpty(next));

        return new Walk(scope, limitText, streams, pageMs.Count, total, [.. pageMs], bytes);
    }

    // --- watch fan-out ----------------------------------------------------------------------

    private sealed record FanOutRow(string Scope, int Watchers, int Pushes, string Mode, int Expected, int Received, int Missed, double[] LatenciesMs, double ConnectMs);

    private async Task<List<FanOutRow>> FanOutAsync(CancellationToken ct)
    {
        var rows = new List<FanOutRow>();
        using var push = RegistryClient.CreateHttpClient(8, _basic is null ? null : () => _basic);
        using var pusher = new RegistryClient(options.Url, push);
        var header = await HeaderAsync($"repository:{FanRepository(0)}:pull", ct);
        foreach (var (scope, listPath, tag) in new[]
        {
            ($"namespace `{FanNamespace}`", $"{Api}namespaces/{FanNamespace}/imagestreams", "a"),
            ("across namespaces", $"{Api}imagestreams", "b"),
        })
        {
            log.WriteLine($"[image-api] {options.Watchers} watchers, {scope}");
            using var http = RegistryClient.CreateHttpClient(options.Watchers + 8, header);
            http.Timeout = Timeout.InfiniteTimeSpan;
            await using var group = await WatcherGroup.StartAsync(http, options.Url, listPath, options.Watchers, FanStreams, i => (FanRepository(i)[(FanNamespace.Length + 1)..], $"{tag}-{i}"), ct);

            // One push at a time, each waited for at every watcher; then a burst, 4 pushes at once.
            var acked = new long[FanStreams];
            for (var i = 0; i < options.SequentialPushes; i++)
            {
                await pusher.PutManifestAsync(FanRepository(i), $"{tag}-{i}", Manifest($"{tag}-{i}"), ct);
                acked[i] = Stopwatch.GetTimestamp();
                await group.WaitAsync(i, options.WatchTimeout);
            }

            await Parallel.ForEachAsync(Enumerable.Range(options.SequentialPushes, options.BurstPushes), new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (i, token) =>
            {
                await pusher.PutManifestAsync(FanRepository(i), $"{tag}-{i}", Manifest($"{tag}-{i}"), token);
                acked[i] = Stopwatch.GetTimestamp();
            });
            for (var i = options.SequentialPushes; i < FanStreams; i++)
            {
                await group.WaitAsync(i, options.WatchTimeout);
            }

            foreach (var (mode, range) in new[] { ("one at a time", (0, options.SequentialPushes)), ("burst, 4 at once", (options.SequentialPushes, FanStreams)) })
            {
                var latencies = new List<double>();
                var expected = 0;
                var received = 0;
                for (var i = range.Item1; i < range.Item2; i++)
                {
                    foreach (var at in group.Received(i))
                    {
                        expected++;
                        if (at is { } t)
                        {
                            received++;
                            latencies.Add(Math.Max(0, (t - acked[i]) * 1000.0 / Stopwatch.Frequency));
                        }
                    }
                }

                latencies.Sort();
                rows.Add(new FanOutRow(scope, options.Watchers, range.Item2 - range.Item1, mode, expected, received, expected - received, [.. latencies], group.ConnectMs));
            }

            if (group.Failures.Count > 0)
            {
                _notes.Add($"Watchers ({scope}) reported: {string.Join("; ", group.Failures.Distinct().Take(5))}");
            }
        }

        return rows;
    }

    /// <summary>
    /// Watchers, each as a client-go informer starts: a list (limit 1) for its resourceVersion, then
    /// a watch from it; each records when it first sees each expected (stream, tag) in an event.
    /// </summary>
    private sealed class WatcherGroup : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly long?[][] _seen;
        private readonly int[] _counts;
        private readonly TaskCompletionSource[] _complete;
        private readonly Dictionary<(string Name, string Tag), int> _expected;
        private readonly List<Task> _readers = [];
        private readonly int _watchers;

        private WatcherGroup(int watchers, int pushes, Func<int, (string Name, string Tag)> expected)
        {
            _watchers = watchers;
            _seen = Enumerable.Range(0, watchers).Select(_ => new long?[pushes]).ToArray();
            _counts = new int[pushes];
            _complete = Enumerable.Range(0, pushes).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
            _expected = Enumerable.Range(0, pushes).ToDictionary(expected, i => i);
        }

        public double ConnectMs { get; private set; }

        public List<string> Failures { get; } = [];

        public static async Task<WatcherGroup> StartAsync(HttpClient http, Uri registry, string listPath, int watchers, int pushes, Func<int, (string Name, string Tag)> expected, CancellationToken ct)
        {
            var group = new WatcherGroup(watchers, pushes, expected);
            var clock = Stopwatch.StartNew();
            var connected = await Task.WhenAll(Enumerable.Range(0, watchers).Select(async w =>
            {
                var (status, body) = await GetBytesAsync(http, new Uri(registry, listPath + "?limit=1"), ct);
                if (status != HttpStatusCode.OK)
                {
                    throw new BenchException($"list {listPath}: HTTP {(int)status}");
                }

                using var doc = JsonDocument.Parse(body);
                var version = doc.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString();
                var request = new HttpRequestMessage(HttpMethod.Get, new Uri(registry, $"{listPath}?watch=true&resourceVersion={version}&timeoutSeconds=600"));
                var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, group._stop.Token);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    throw new BenchException($"watch {listPath}: HTTP {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}");
                }

                return (w, response);
            }));
            group.ConnectMs = clock.Elapsed.TotalMilliseconds;
            foreach (var (w, response) in connected)
            {
                group._readers.Add(Task.Run(() => group.ReadAsync(w, response)));
            }

            return group;
        }

        private async Task ReadAsync(int watcher, HttpResponseMessage response)
        {
            try
            {
                using (response)
                {
                    await using var body = await response.Content.ReadAsStreamAsync(_stop.Token);
                    using var reader = new StreamReader(body, Encoding.UTF8);
                    while (await reader.ReadLineAsync(_stop.Token) is { } line)
                    {
                        var at = Stopwatch.GetTimestamp();
                        using var doc = JsonDocument.Parse(line);
                        var type = doc.RootElement.GetProperty("type").GetString();
                        var obj = doc.RootElement.GetProperty("object");
                        if (type == "ERROR")
                        {
                            lock (Failures)
                            {
                                Failures.Add($"ERROR event: {obj}");
                            }

                            return;
                        }

                        if (type is not ("MODIFIED" or "ADDED") || !obj.TryGetProperty("status", out var status) || !status.TryGetProperty("tags", out var tags))
                        {
                            continue;
                        }

                        var name = obj.GetProperty("metadata").GetProperty("name").GetString() ?? "";
                        foreach (var tag in tags.EnumerateArray())
                        {
                            if (_expected.TryGetValue((name, tag.GetProperty("tag").GetString() ?? ""), out var push) && _seen[watcher][push] is null)
                            {
                                _seen[watcher][push] = at;
                                if (Interlocked.Increment(ref _counts[push]) == _watchers)
                                {
                                    _complete[push].TrySetResult();
                                }
                            }
                        }
                    }
                }
            }
            catch (Exception e) when (_stop.IsCancellationRequested && e is OperationCanceledException or IOException or HttpRequestException)
            {
                // The group is being disposed.
            }
            catch (Exception e)
            {
                lock (Failures)
                {
                    Failures.Add($"{e.GetType().Name}: {e.Message}");
                }
            }
        }

        /// <summary>Until every watcher has seen push <paramref name="push"/>, or <paramref name="timeout"/>.</summary>
        public async Task WaitAsync(int push, TimeSpan timeout)
        {
            try
            {
                await _complete[push].Task.WaitAsync(timeout);
            }
            catch (TimeoutException)
            {
                // Counted as missed.
            }
        }

        /// <summary>When each watcher first saw push <paramref name="push"/> (stopwatch ticks), null for a watcher that did not.</summary>
        public IEnumerable<long?> Received(int push) => _seen.Select(s => s[push]);

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_readers);
            _stop.Dispose();
        }
    }

    // --- /v2 alone and with the image API's load ---------------------------------------------

    private sealed record Background(string What, double TargetPerSecond, List<double> LatenciesMs, int Errors, TimeSpan Active);

    /// <summary>One /v2 round: what ran beside it (null: nothing), its result, and the registry's CPU time per second of it.</summary>
    private sealed record V2Round(int Pair, string? With, LoopResult Loop, double RegistryCpu);

    private sealed record V2Result(List<V2Round> Rounds, double Alone, double With, double[] PairRatios, List<Background> Backgrounds, string BackgroundText, List<(string What, double Ratio)> Attribution, double? SaturatedRatio, LoopResult? SaturatedImage)
    {
        public double Ratio => With / Alone;

        public double MedianPairRatio => PairRatios.Order().ElementAt(PairRatios.Length / 2);
    }

    /// <summary>
    /// Closed-loop manifest GET by tag (<see cref="ImageApiBenchOptions.V2Connections"/> connections),
    /// in pairs of rounds: alone, and while the image API serves a steady open-loop load (GETs of the
    /// history stream, pages of the stream list, pushes fanned out to the watchers), the order
    /// alternating. Then a pair per kind of load alone (which costs what), and one informational
    /// pair with the history stream GET in a closed loop.
    /// </summary>
    private async Task<V2Result> V2ComparisonAsync(HttpClient api, CancellationToken ct)
    {
        using var v2 = RegistryClient.CreateHttpClient(options.V2Connections, await HeaderAsync($"repository:{V2Repository}:pull", ct));
        using var setup = RegistryClient.CreateHttpClient(2, await HeaderAsync($"repository:{V2Repository}:pull", ct));
        var manifestUrl = new Uri(options.Url, $"v2/{V2Repository}/manifests/v1");
        var length = (await GetManifestBytesAsync(setup, manifestUrl, ct)).Length;
        using var push = RegistryClient.CreateHttpClient(4, _basic is null ? null : () => _basic);
        using var pusher = new RegistryClient(options.Url, push);
        using var watchHttp = RegistryClient.CreateHttpClient(options.Watchers + 8, await HeaderAsync($"repository:{FanRepository(0)}:pull", ct));
        watchHttp.Timeout = Timeout.InfiniteTimeSpan;

        // The watchers stay connected through every round; they get events only in the rounds with pushes.
        log.WriteLine($"[image-api] /v2 comparison: {options.Watchers} watchers connected");
        await using var watchers = await WatcherGroup.StartAsync(watchHttp, options.Url, $"{Api}namespaces/{FanNamespace}/imagestreams", options.Watchers, 1, _ => ("none", "none"), ct);

        var historyUrl = new Uri(options.Url, $"{Api}namespaces/hist/imagestreams/app");
        var pushCount = 0;
        string? listNext = null;
        var kinds = new (string What, string Short, double PerSecond, Func<CancellationToken, Task<bool>> One)[]
        {
            ($"GET of `{HistoryRepository}` ({options.HistoryTags} × {options.HistoryItems})", "stream GETs only", 2, async t => (await GetBytesAsync(api, historyUrl, t)).Status == HttpStatusCode.OK),
            ("page of the stream list across namespaces (limit 500, following continue)", "list pages only", 2, async t =>
            {
                var url = new Uri(options.Url, $"{Api}imagestreams?limit=500" + (listNext is { } n ? $"&continue={Uri.EscapeDataString(n)}" : ""));
                var (status, body) = await GetBytesAsync(api, url, t);
                listNext = ContinueOf(body);
                return status == HttpStatusCode.OK;
            }),
            ($"push by tag to `{FanNamespace}`, fanned out to {options.Watchers} watchers", "pushes and fan-out only", 1, async t =>
            {
                var k = Interlocked.Increment(ref pushCount);
                await pusher.PutManifestAsync(FanRepository(k % FanStreams), $"bg-{k}", Manifest($"bg-{k}"), t);
                return true;
            }),
        };
        var backgrounds = kinds.Select(k => new Background(k.What, k.PerSecond, [], 0, TimeSpan.Zero)).ToList();
        var backgroundText = string.Join("; ", kinds.Select(k => $"{k.PerSecond:F0}/s {k.What}"));
        var probe = _probe;

        async Task<V2Round> RoundAsync(int pair, int[] running, string? label)
        {
            log.WriteLine($"[image-api] /v2 manifest GET, pair {pair + 1}, {label ?? "alone"}");
            using var stop = new CancellationTokenSource();
            var cpu = probe?.Read()?.CpuSeconds;
            var clock = Stopwatch.StartNew();
            var load = running.Select(i => OpenLoopAsync(kinds[i].PerSecond, kinds[i].One, running.Length == kinds.Length ? backgrounds : null, i, stop.Token)).ToArray();
            var loop = await ClosedLoopAsync(options.V2Connections, buffer => RegistryClient.GetManifestAsync(v2, manifestUrl, length, buffer, ct), ct);
            await stop.CancelAsync();
            await Task.WhenAll(load);
            var used = cpu is { } before && probe?.Read()?.CpuSeconds is { } after ? (after - before) / clock.Elapsed.TotalSeconds : double.NaN;
            return new V2Round(pair, label, loop, used);
        }

        var all = Enumerable.Range(0, kinds.Length).ToArray();
        var rounds = new List<V2Round>();
        var ratios = new List<double>();
        for (var pair = 0; pair < options.V2Pairs; pair++)
        {
            V2Round alone, with;
            if (pair % 2 == 0)
            {
                alone = await RoundAsync(pair, [], null);
                with = await RoundAsync(pair, all, "with the image API's load");
                rounds.AddRange([alone, with]);
            }
            else
            {
                with = await RoundAsync(pair, all, "with the image API's load");
                alone = await RoundAsync(pair, [], null);
                rounds.AddRange([with, alone]);
            }

            ratios.Add(with.Loop.RequestsPerSecond / alone.Loop.RequestsPerSecond);
        }

        // Which part of the load costs what: a pair per kind, alone first.
        var attribution = new List<(string What, double Ratio)>();
        for (var i = 0; i < kinds.Length; i++)
        {
            var alone = await RoundAsync(options.V2Pairs + i, [], null);
            var with = await RoundAsync(options.V2Pairs + i, [i], $"with {kinds[i].Short}");
            rounds.AddRange([alone, with]);
            attribution.Add((kinds[i].Short, with.Loop.RequestsPerSecond / alone.Loop.RequestsPerSecond));
        }

        var main = rounds.Where(r => r.Pair < options.V2Pairs).ToArray();
        var aloneMean = main.Where(r => r.With is null).Average(r => r.Loop.RequestsPerSecond);
        var withMean = main.Where(r => r.With is not null).Average(r => r.Loop.RequestsPerSecond);

        // Informational: the history stream GET in a closed loop (4 at a time) against /v2, one pair.
        log.WriteLine("[image-api] /v2 manifest GET alone and against a closed loop of stream GETs (informational)");
        var plain = await ClosedLoopAsync(options.V2Connections, buffer => RegistryClient.GetManifestAsync(v2, manifestUrl, length, buffer, ct), ct);
        using var saturate = new CancellationTokenSource();
        var imageTask = ClosedLoopAsync(4, buffer => CheckedGetAsync(api, historyUrl, -1, buffer, saturate.Token), ct, saturate.Token);
        var contended = await ClosedLoopAsync(options.V2Connections, buffer => RegistryClient.GetManifestAsync(v2, manifestUrl, length, buffer, ct), ct);
        await saturate.CancelAsync();
        var image = await imageTask;
        return new V2Result(rounds, aloneMean, withMean, [.. ratios], backgrounds, backgroundText, attribution, contended.RequestsPerSecond / plain.RequestsPerSecond, image);
    }

    /// <summary>A list page's <c>metadata.continue</c>, or null on the last page.</summary>
    private static string? ContinueOf(byte[] body)
    {
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.GetProperty("metadata").TryGetProperty("continue", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
    }

    private static async Task<byte[]> GetManifestBytesAsync(HttpClient http, Uri url, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.TryAddWithoutValidation("Accept", RegistryClient.OciManifest);
        using var response = await http.SendAsync(request, ct);
        await RegistryClient.ExpectAsync(response, HttpStatusCode.OK, "manifest GET");
        return await response.Content.ReadAsByteArrayAsync(ct);
    }

    /// <summary>Starts one request every 1/<paramref name="perSecond"/> s (not waiting for the last) until stopped; records each one's latency.</summary>
    private static async Task OpenLoopAsync(double perSecond, Func<CancellationToken, Task<bool>> one, List<Background>? results, int index, CancellationToken stop)
    {
        var interval = TimeSpan.FromSeconds(1 / perSecond);
        var started = Stopwatch.StartNew();
        var inFlight = new List<Task>();
        var errors = 0;
        var latencies = new List<double>();
        for (var k = 0; !stop.IsCancellationRequested; k++)
        {
            var due = interval * k - started.Elapsed;
            if (due > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(due, stop);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            inFlight.Add(Task.Run(async () =>
            {
                var clock = Stopwatch.StartNew();
                bool ok;
                try
                {
                    ok = await one(CancellationToken.None);
                }
                catch (Exception e) when (e is HttpRequestException or BenchException or JsonException)
                {
                    ok = false;
                }

                lock (latencies)
                {
                    if (ok)
                    {
                        latencies.Add(clock.Elapsed.TotalMilliseconds);
                    }
                    else
                    {
                        errors++;
                    }
                }
            }));
        }

        await Task.WhenAll(inFlight);
        if (results is null)
        {
            return;
        }

        lock (results)
        {
            var before = results[index];
            results[index] = before with { LatenciesMs = [.. before.LatenciesMs, .. latencies], Errors = before.Errors + errors, Active = before.Active + started.Elapsed };
        }
    }

    // --- shared -------------------------------------------------------------------------------

    /// <summary>A bearer token for <paramref name="scope"/> from one login with Basic credentials when access control is on (it names the caller on /apis); none when off.</summary>
    private async Task<Func<AuthenticationHeaderValue?>?> HeaderAsync(string scope, CancellationToken ct)
    {
        if (_basic is null)
        {
            return null;
        }

        using var anonymous = RegistryClient.CreateHttpClient(1);
        using var challenged = await anonymous.GetAsync(new Uri(options.Url, "v2/"), ct);
        var challenge = challenged.Headers.WwwAuthenticate.FirstOrDefault(h => h.Scheme == "Bearer")?.Parameter
            ?? throw new BenchException($"{options.Url} answered GET /v2/ with {(int)challenged.StatusCode} and no Bearer challenge: is access control on?");
        string Param(string name) => Regex.Match(challenge, $"{name}=\"([^\"]*)\"").Groups[1].Value;
        var realm = new Uri(Param("realm"));
        if (realm.Authority != options.Url.Authority)
        {
            throw new BenchException($"the realm {realm} is not on {options.Url.Authority}; refusing to send credentials there");
        }

        using var http = RegistryClient.CreateHttpClient(1, () => _basic);
        using var response = await http.GetAsync(new Uri($"{realm}?service={Uri.EscapeDataString(Param("service"))}&scope={Uri.EscapeDataString(scope)}"), ct);
        await RegistryClient.ExpectAsync(response, HttpStatusCode.OK, "token");
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
        var header = new AuthenticationHeaderValue("Bearer", json.RootElement.GetProperty("token").GetString() ?? throw new BenchException("the token endpoint answered no token"));
        return () => header;
    }

    /// <summary>Closed loop: each of <paramref name="connections"/> sends its next request when the last is answered; a warm-up, then the measured window (or until <paramref name="until"/>).</summary>
    private async Task<LoopResult> ClosedLoopAsync(int connections, Func<byte[], Task<bool>> one, CancellationToken ct, CancellationToken until = default)
    {
        var frequency = (double)Stopwatch.Frequency;
        var begin = Stopwatch.GetTimestamp();
        var measureStart = begin + (long)(options.Warmup.TotalSeconds * frequency);
        var end = until.CanBeCanceled ? long.MaxValue : measureStart + (long)(options.Window.TotalSeconds * frequency);
        long errors = 0, completed = 0;
        var latencies = new List<long>[connections];
        await Task.WhenAll(Enumerable.Range(0, connections).Select(w => Task.Run(
            async () =>
            {
                var mine = latencies[w] = new List<long>(1 << 12);
                var buffer = new byte[64 * 1024];
                long t0;
                while ((t0 = Stopwatch.GetTimestamp()) < end && !until.IsCancellationRequested)
                {
                    var ok = await one(buffer);
                    var t1 = Stopwatch.GetTimestamp();
                    if (!ok)
                    {
                        if (!until.IsCancellationRequested)
                        {
                            Interlocked.Increment(ref errors);
                        }

                        continue;
                    }

                    if (t1 >= measureStart && t1 <= end)
                    {
                        Interlocked.Increment(ref completed);
                        if (t0 >= measureStart)
                        {
                            mine.Add(t1 - t0);
                        }
                    }
                }
            },
            ct)));
        var window = until.CanBeCanceled ? (Stopwatch.GetTimestamp() - measureStart) / frequency : options.Window.TotalSeconds;
        var sorted = latencies.SelectMany(l => l).Order().ToArray();
        return sorted.Length == 0
            ? throw new BenchException($"no request succeeded ({errors} errors)")
            : new LoopResult(completed / window, errors, sorted);
    }

    // --- the page -----------------------------------------------------------------------------

    private static double Quantile(IReadOnlyList<double> sorted, double q) => sorted.Count == 0 ? double.NaN : sorted[(int)Math.Round(q * (sorted.Count - 1))];

    private string Render(DateTime started, string[] loadStart, string[] loadEnd, SeedResult seed, List<GetRow> get, List<WalkRow> lists, List<FanOutRow> fanOut, V2Result v2, ProcessSample? peak)
    {
        var c = CultureInfo.InvariantCulture;
        var page = new StringBuilder();
        page.AppendLine("# Benchmarks: the image API").AppendLine();
        page.AppendLine(c, $"Written by `{options.Command}` on {started:yyyy-MM-dd HH:mm} UTC: {Environment.ProcessorCount} CPUs ({MachineInfo.CpuModel()}), {MachineInfo.MemTotalGiB():F1} GiB, load average {string.Join(' ', loadStart)} at the start and {string.Join(' ', loadEnd)} at the end. Rerun the script rather than editing this page.");
        page.AppendLine("The client and the registry share the machine's cores, on 127.0.0.1.").AppendLine();
        page.AppendLine(options.Setup).AppendLine();
        page.AppendLine(AccessOn
            ? $"Access control is **on**: the image API and `/v2` GETs send a bearer token from one login of the admin (`GET /auth/token` with Basic credentials), as kubectl with `--token` and a pulling client do; the seeding and the pushes send Basic credentials (the password check is cached after the first)."
            : "Access control is **off** (`--Registry:Access:Enabled=false`): no credentials are sent.").AppendLine();

        page.AppendLine("## What was stored").AppendLine();
        page.AppendLine(c, $"- {seed.Streams:N0} image streams: {options.BigNamespaceStreams:N0} in namespace `{BigNamespace}` and {options.SmallNamespaces} namespaces `ns-000`… of {options.SmallNamespaceStreams} each, one tag each (two cross-repository mounts of a shared config and layer, then the same manifest pushed by tag: {seed.Streams * 3:N0} requests, {options.SeedConcurrency} at a time) in {seed.StreamsTime.TotalSeconds:F1} s ({seed.Streams / seed.StreamsTime.TotalSeconds:F0} streams/s).");
        page.AppendLine(c, $"- `{HistoryRepository}`: {options.HistoryTags} tags × {options.HistoryItems} history items, {seed.HistoryPushes:N0} distinct tiny manifests pushed by tag ({options.SeedConcurrency} at a time, every tag getting its next item in turn) in {seed.HistoryTime.TotalSeconds:F1} s ({seed.HistoryPushes / seed.HistoryTime.TotalSeconds:F0} pushes/s).");
        page.AppendLine(c, $"- `{V2Repository}:v1` for `/v2`, and {FanStreams} streams in namespace `{FanNamespace}` for the watch fan-out.").AppendLine();

        page.AppendLine("## GET of one image stream").AppendLine();
        page.AppendLine(c, $"`GET /apis/image.openshift.io/v1/namespaces/<ns>/imagestreams/<name>` (JSON), closed loop: each connection sends its next request when the last is answered, read to the end; {options.Window.TotalSeconds:F0} s measured after {options.Warmup.TotalSeconds:F0} s warm-up.").AppendLine();
        page.AppendLine("| Stream | response | connections | requests/s | p50 ms | p99 ms | max ms | errors | registry CPU ms per request |");
        page.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var row in get)
        {
            page.AppendLine(c, $"| {row.What} | {Size(row.Bytes)} | {row.Concurrency} | {row.Loop.RequestsPerSecond:F0} | {row.Loop.Ms(0.5):F2} | {row.Loop.Ms(0.99):F2} | {row.Loop.Ms(1):F2} | {row.Loop.Errors} | {row.CpuMs:F2} |");
        }

        page.AppendLine().AppendLine("## Listing every stream, page by page").AppendLine();
        page.AppendLine(c, $"`GET …/imagestreams?limit=N` then `&continue=` from each page's `metadata.continue` until there is none, one page at a time, {options.ListRepeats} walks each. A page's time runs from the request to its last byte; the walk's total is the sum (the client's parsing is not counted). Across namespaces the walk also meets the other benchmark streams (history, `/v2`, fan-out, seed).").AppendLine();
        page.AppendLine("| Scope | limit | streams | pages | walk total ms (each walk) | page p50 ms | page max ms | first page ms | last page ms | bytes |");
        page.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var row in lists)
        {
            var last = row.Runs[^1];
            var pages = row.Runs.SelectMany(r => r.PageMs).Order().ToArray();
            page.AppendLine(c, $"| {row.Scope} | {row.Limit} | {last.Streams:N0} | {last.Pages} | {string.Join(", ", row.Runs.Select(r => r.Total.TotalMilliseconds.ToString("F0", c)))} | {Quantile(pages, 0.5):F1} | {pages[^1]:F1} | {string.Join(", ", row.Runs.Select(r => r.PageMs[0].ToString("F1", c)))} | {string.Join(", ", row.Runs.Select(r => r.PageMs[^1].ToString("F1", c)))} | {Size(last.Bytes)} |");
        }

        page.AppendLine().AppendLine("## Watch fan-out").AppendLine();
        page.AppendLine(c, $"{options.Watchers} watchers connect at once, each as an informer does: a list (`limit=1`) for its `resourceVersion`, then `?watch=true&resourceVersion=<it>`. Then pushes by tag, each to another stream of namespace `{FanNamespace}` (a watch coalesces changes of one stream close together): {options.SequentialPushes} one at a time, each waited for at every watcher (up to {options.WatchTimeout.TotalSeconds:F0} s), then {options.BurstPushes} four at a time. Latency: from the push's `201` at the client to the line of the event that first shows the new tag, at each watcher (the client, {options.Watchers} readers and the registry share 2 cores). An event that arrives before the client has read the `201` counts as 0.").AppendLine();
        page.AppendLine("| Watch | watchers | connect ms (all) | pushes | events expected | received | missed | p50 ms | p99 ms | max ms |");
        page.AppendLine("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|");
        foreach (var row in fanOut)
        {
            page.AppendLine(c, $"| {row.Scope} | {row.Watchers} | {row.ConnectMs:F0} | {row.Pushes}, {row.Mode} | {row.Expected:N0} | {row.Received:N0} | {row.Missed} | {Quantile(row.LatenciesMs, 0.5):F1} | {Quantile(row.LatenciesMs, 0.99):F1} | {Quantile(row.LatenciesMs, 1):F1} |");
        }

        page.AppendLine().AppendLine("## `/v2` manifest GET while the image API serves").AppendLine();
        page.AppendLine(c, $"`GET /v2/{V2Repository}/manifests/v1` (OCI manifest, by tag), {options.V2Connections} connections, closed loop, {options.Window.TotalSeconds:F0} s measured after {options.Warmup.TotalSeconds:F0} s warm-up, in {options.V2Pairs} pairs of rounds: alone, and while the image API serves, the order alternating from pair to pair. The image API's load, open loop (started on schedule, not waiting for the last): {v2.BackgroundText}. {options.Watchers} watchers of namespace `{FanNamespace}` stay connected through every round (idle in the rounds alone).").AppendLine();
        page.AppendLine("| Pair | Round | /v2 requests/s | p50 ms | p99 ms | errors | registry CPU (cores) |");
        page.AppendLine("|---:|---|---:|---:|---:|---:|---:|");
        foreach (var round in v2.Rounds)
        {
            page.AppendLine(c, $"| {round.Pair + 1} | {round.With ?? "alone"} | {round.Loop.RequestsPerSecond:F0} | {round.Loop.Ms(0.5):F2} | {round.Loop.Ms(0.99):F2} | {round.Loop.Errors} | {round.RegistryCpu:F2} |");
        }

        page.AppendLine().AppendLine(c, $"**Pairs 1–{options.V2Pairs}: mean with the load / mean alone = {v2.With:F0} / {v2.Alone:F0} = {v2.Ratio:F2}** (target ≥ 0.95: {(v2.Ratio >= 0.95 ? "met" : "**missed**")}); the pairs' own ratios {string.Join(", ", v2.PairRatios.Select(r => r.ToString("F2", c)))} (median {v2.MedianPairRatio:F2}).");
        page.AppendLine(c, $"Each kind of load by itself (pairs {options.V2Pairs + 1}–{options.V2Pairs + v2.Attribution.Count}, one pair each): {string.Join("; ", v2.Attribution.Select(a => $"{a.What} {a.Ratio:F2}"))}.").AppendLine();
        page.AppendLine(c, $"The image API's requests during the rounds with the whole load (pairs 1–{options.V2Pairs}):").AppendLine();
        page.AppendLine("| Request | asked per s | answered | p50 ms | p99 ms | max ms | errors |");
        page.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var b in v2.Backgrounds)
        {
            var sorted = b.LatenciesMs.Order().ToArray();
            page.AppendLine(c, $"| {b.What} | {b.TargetPerSecond:F0} | {sorted.Length} in {b.Active.TotalSeconds:F0} s | {Quantile(sorted, 0.5):F1} | {Quantile(sorted, 0.99):F1} | {Quantile(sorted, 1):F1} | {b.Errors} |");
        }

        if (v2.SaturatedImage is { } saturated)
        {
            page.AppendLine().AppendLine(c, $"Informational, not the target: `/v2` against a **closed loop** of 4 connections GETting `{HistoryRepository}` as fast as they are answered ({saturated.RequestsPerSecond:F0} stream GETs/s, p50 {saturated.Ms(0.5):F1} ms) kept {v2.SaturatedRatio:F2} of its rate alone (one pair): on 2 cores shared by client and registry, any CPU the image API takes is taken from `/v2`.");
        }

        if (peak is { } p)
        {
            page.AppendLine().AppendLine(c, $"Registry process at the end: RSS {p.VmRssKiB / 1024.0:F0} MiB, peak (VmHWM) {p.VmHwmKiB / 1024.0:F0} MiB, {p.CpuSeconds:F0} CPU-s since its start.");
        }

        if (_notes.Count > 0)
        {
            page.AppendLine().AppendLine("## Problems seen").AppendLine();
            foreach (var note in _notes)
            {
                page.AppendLine(c, $"- {note}");
            }
        }

        return page.ToString();
    }

    private static string Size(long bytes) => bytes >= 1 << 20 ? $"{bytes / 1048576.0:F2} MiB" : bytes >= 1024 ? $"{bytes / 1024.0:F1} KiB" : $"{bytes} B";
}
