using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Registry.Bench;

/// <param name="Off">This registry with access control off.</param>
/// <param name="On">The same build with access control on (<paramref name="User"/> is its admin).</param>
/// <param name="Reference">The reference registry with htpasswd (the same user and password).</param>
/// <param name="ReferenceOpen">The reference registry without authentication.</param>
internal sealed record AccessBenchOptions(Uri Off, Uri On, Uri Reference, Uri ReferenceOpen, string User, string Password, bool Quick, string OutPath, string Command, string Setup)
{
    public int Connections => 32;

    public int Rounds => Quick ? 2 : 3;

    public TimeSpan Warmup => TimeSpan.FromSeconds(Quick ? 1 : 2);

    public TimeSpan Window => TimeSpan.FromSeconds(Quick ? 3 : 6);

    public int Blobs => Quick ? 4 : 8;

    public long BlobSize => (Quick ? 8L : 32L) << 20;

    public int TransferConcurrency => 4;
}

/// <summary>
/// What access control costs: the same requests against this registry with access control off
/// and on (a bearer token from one login, or Basic credentials on every request), the token
/// endpoint's rate for a login whose password check is cached, push and pull throughput, and the
/// reference registry open and with htpasswd, all in one run, the targets interleaved.
/// </summary>
internal sealed class AccessBench(AccessBenchOptions options, TextWriter log)
{
    private const string Repository = "access/bench";

    private enum Credentials
    {
        None,
        Bearer,
        Basic,
    }

    private sealed record Target(string Registry, string Label, Uri Url, Credentials Credentials);

    public async Task<int> RunAsync(CancellationToken ct)
    {
        var started = DateTime.UtcNow;
        var load = File.ReadAllText("/proc/loadavg").Split(' ')[..3];
        var basic = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{options.User}:{options.Password}")));
        Target[] gets =
        [
            new("this registry", "access control off", options.Off, Credentials.None),
            new("this registry", "on, bearer token (one login)", options.On, Credentials.Bearer),
            new("this registry", "on, Basic on every request", options.On, Credentials.Basic),
            new("reference", "open", options.ReferenceOpen, Credentials.None),
            new("reference", "htpasswd, Basic on every request", options.Reference, Credentials.Basic),
        ];
        Target[] transfers = [gets[0], gets[1], gets[3], gets[4]];

        var manifests = new Dictionary<Uri, int>();
        foreach (var target in new[] { gets[0], gets[1], gets[3], gets[4] })
        {
            manifests[target.Url] = await SetUpAsync(target, basic, ct);
        }

        var rates = gets.ToDictionary(t => t, _ => new List<LoopResult>());
        var tokenRates = new List<LoopResult>();
        var throughput = transfers.ToDictionary(t => t, _ => new List<(double Push, double Pull)>());
        for (var round = 0; round < options.Rounds; round++)
        {
            // Alternate the order, so neither side always meets a warmer or a busier machine.
            foreach (var target in round % 2 == 0 ? gets : gets.Reverse())
            {
                log.WriteLine($"[access] round {round + 1}: manifest GET, {target.Registry}, {target.Label}");
                rates[target].Add(await ManifestGetAsync(target, basic, manifests[target.Url], ct));
            }

            log.WriteLine($"[access] round {round + 1}: token endpoint");
            tokenRates.Add(await TokenEndpointAsync(basic, ct));
            foreach (var target in round % 2 == 0 ? transfers : transfers.Reverse())
            {
                log.WriteLine($"[access] round {round + 1}: push and pull, {target.Registry}, {target.Label}");
                throughput[target].Add(await TransferAsync(target, basic, ct));
            }
        }

        var page = Render(started, load, gets, rates, tokenRates, transfers, throughput);
        await File.WriteAllTextAsync(options.OutPath, page, ct);
        Console.WriteLine(page);
        return rates.Values.SelectMany(r => r).Concat(tokenRates).Any(r => r.Errors > 0) ? 1 : 0;
    }

    /// <summary>Pushes a small image tagged v1; returns its manifest's length.</summary>
    private async Task<int> SetUpAsync(Target target, AuthenticationHeaderValue basic, CancellationToken ct)
    {
        using var http = await ClientAsync(target, basic, 4, ct);
        using var client = new RegistryClient(target.Url, http);
        var manifest = await client.PushSmallImageAsync(Repository, $"access-{Guid.NewGuid():N}", 42, ct);
        await client.PutManifestAsync(Repository, "v1", manifest, ct);
        return manifest.Length;
    }

    private async Task<LoopResult> ManifestGetAsync(Target target, AuthenticationHeaderValue basic, int length, CancellationToken ct)
    {
        using var http = await ClientAsync(target, basic, options.Connections, ct);
        var url = new Uri(target.Url, $"v2/{Repository}/manifests/v1");
        return await ClosedLoopAsync(buffer => RegistryClient.GetManifestAsync(http, url, length, buffer, ct), ct);
    }

    /// <summary>A client's login: GET /auth/token with Basic credentials for one pull scope, answered from the password cache after the first.</summary>
    private async Task<LoopResult> TokenEndpointAsync(AuthenticationHeaderValue basic, CancellationToken ct)
    {
        var (realm, service) = await ChallengeAsync(options.On, ct);
        var url = new Uri($"{realm}?service={Uri.EscapeDataString(service)}&scope={Uri.EscapeDataString($"repository:{Repository}:pull")}");
        using var http = RegistryClient.CreateHttpClient(options.Connections, () => basic);
        return await ClosedLoopAsync(
            async buffer =>
            {
                try
                {
                    using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, ct);
                    await using var body = await response.Content.ReadAsStreamAsync(ct);
                    while (await body.ReadAsync(buffer, ct) > 0)
                    {
                    }

                    return response.StatusCode == HttpStatusCode.OK;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            },
            ct);
    }

    /// <summary>Pushes <see cref="AccessBenchOptions.Blobs"/> blobs (POST + PUT), then pulls them back, each with a few at once; MB/s of each.</summary>
    private async Task<(double Push, double Pull)> TransferAsync(Target target, AuthenticationHeaderValue basic, CancellationToken ct)
    {
        using var http = await ClientAsync(target, basic, options.TransferConcurrency + 2, ct);
        using var client = new RegistryClient(target.Url, http);
        var blobs = Enumerable.Range(0, options.Blobs).Select(_ => new PatternBlob(options.BlobSize, (ulong)Random.Shared.NextInt64())).ToArray();
        foreach (var blob in blobs)
        {
            _ = blob.Digest;
        }

        await client.PushMonolithicAsync(Repository, new PatternBlob(1 << 20, (ulong)Random.Shared.NextInt64()), ct);
        var push = await EachAsync(blobs, blob => client.PushMonolithicAsync(Repository, blob, ct));
        var pull = await EachAsync(blobs, blob => client.PullAsync(Repository, blob.Digest, blob.Size, ct));
        var bytes = blobs.Length * (double)options.BlobSize;
        return (bytes / push.TotalSeconds / 1e6, bytes / pull.TotalSeconds / 1e6);
    }

    private async Task<TimeSpan> EachAsync(PatternBlob[] blobs, Func<PatternBlob, Task> one)
    {
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, options.TransferConcurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < blobs.Length)
            {
                await one(blobs[i]);
            }
        }));
        return clock.Elapsed;
    }

    /// <summary>A client sending the target's credentials on every request: none, Basic, or a bearer token for pull and push got once now.</summary>
    private async Task<HttpClient> ClientAsync(Target target, AuthenticationHeaderValue basic, int connections, CancellationToken ct)
    {
        var header = target.Credentials switch
        {
            Credentials.Basic => basic,
            Credentials.Bearer => new AuthenticationHeaderValue("Bearer", await TokenAsync(target.Url, basic, ct)),
            _ => null,
        };
        return RegistryClient.CreateHttpClient(connections, () => header);
    }

    private async Task<string> TokenAsync(Uri registry, AuthenticationHeaderValue basic, CancellationToken ct)
    {
        var (realm, service) = await ChallengeAsync(registry, ct);
        using var http = RegistryClient.CreateHttpClient(1, () => basic);
        using var response = await http.GetAsync(new Uri($"{realm}?service={Uri.EscapeDataString(service)}&scope={Uri.EscapeDataString($"repository:{Repository}:pull,push")}"), ct);
        await RegistryClient.ExpectAsync(response, HttpStatusCode.OK, "token");
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
        return json.RootElement.GetProperty("token").GetString() ?? throw new BenchException("the token endpoint answered no token");
    }

    /// <summary>The realm and service of the registry's challenge to an anonymous <c>GET /v2/</c>.</summary>
    private static async Task<(Uri Realm, string Service)> ChallengeAsync(Uri registry, CancellationToken ct)
    {
        using var http = RegistryClient.CreateHttpClient(1);
        using var response = await http.GetAsync(new Uri(registry, "v2/"), ct);
        var challenge = response.Headers.WwwAuthenticate.FirstOrDefault(h => h.Scheme == "Bearer")?.Parameter
            ?? throw new BenchException($"{registry} answered GET /v2/ with {(int)response.StatusCode} and no Bearer challenge: is access control on?");
        string Param(string name) => Regex.Match(challenge, $"{name}=\"([^\"]*)\"").Groups[1].Value;
        var realm = new Uri(Param("realm"));
        return realm.Authority == registry.Authority
            ? (realm, Param("service"))
            : throw new BenchException($"the realm {realm} is not on {registry.Authority}; refusing to send credentials there");
    }

    /// <summary>Closed loop: every connection sends its next request when the last is answered; a warm-up, then the measured window.</summary>
    private async Task<LoopResult> ClosedLoopAsync(Func<byte[], Task<bool>> one, CancellationToken ct)
    {
        var frequency = (double)Stopwatch.Frequency;
        var measureStart = Stopwatch.GetTimestamp() + (long)(options.Warmup.TotalSeconds * frequency);
        var end = measureStart + (long)(options.Window.TotalSeconds * frequency);
        long errors = 0, completed = 0;
        var latencies = new List<long>[options.Connections];
        await Task.WhenAll(Enumerable.Range(0, options.Connections).Select(w => Task.Run(
            async () =>
            {
                var mine = latencies[w] = new List<long>(1 << 14);
                var buffer = new byte[64 * 1024];
                long t0;
                while ((t0 = Stopwatch.GetTimestamp()) < end)
                {
                    var ok = await one(buffer);
                    var t1 = Stopwatch.GetTimestamp();
                    if (!ok)
                    {
                        Interlocked.Increment(ref errors);
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
        var sorted = latencies.SelectMany(l => l).Order().ToArray();
        return sorted.Length == 0
            ? throw new BenchException($"no request succeeded ({errors} errors)")
            : new LoopResult(completed / options.Window.TotalSeconds, errors, sorted);
    }

    private string Render(
        DateTime started, string[] load, Target[] gets, Dictionary<Target, List<LoopResult>> rates, List<LoopResult> tokens,
        Target[] transfers, Dictionary<Target, List<(double Push, double Pull)>> throughput)
    {
        var c = CultureInfo.InvariantCulture;
        var page = new StringBuilder();
        page.AppendLine("# Benchmarks: the cost of access control").AppendLine();
        page.AppendLine(c, $"Written by `{options.Command}` on {started:yyyy-MM-dd HH:mm} UTC: {Environment.ProcessorCount} CPUs ({MachineInfo.CpuModel()}), {MachineInfo.MemTotalGiB():F1} GiB, load average {string.Join(' ', load)} at the start.");
        page.AppendLine(c, $"Every figure is the mean of {options.Rounds} rounds (the single rounds in brackets); the targets take turns, in alternating order. Client and registries share the machine's cores.").AppendLine();
        page.AppendLine(options.Setup).AppendLine();

        double Mean(IEnumerable<double> values) => values.Average();
        string Rounds(IEnumerable<double> values, string format) => string.Join(", ", values.Select(v => v.ToString(format, c)));
        var open = rates.ToDictionary(r => r.Key, r => Mean(r.Value.Select(v => v.RequestsPerSecond)));
        page.AppendLine(c, $"## Manifest GET").AppendLine();
        page.AppendLine(c, $"{options.Connections} connections, closed loop, {options.Window.TotalSeconds:F0} s measured after {options.Warmup.TotalSeconds:F0} s warm-up, one 4 KiB-layer image's OCI manifest by tag. Latencies of the last round.").AppendLine();
        page.AppendLine("| Registry | Credentials | requests/s | p50 ms | p99 ms | errors | vs. the same registry open | target |");
        page.AppendLine("|---|---|---:|---:|---:|---:|---:|---|");
        foreach (var target in gets)
        {
            var baseline = open[gets.First(g => g.Registry == target.Registry && g.Credentials == Credentials.None)];
            var ratio = open[target] / baseline;
            var goal = target.Registry == "this registry" ? target.Credentials switch
            {
                Credentials.Bearer => ratio >= 0.9 ? "≥ 0.90: met" : "≥ 0.90: **missed**",
                Credentials.Basic => ratio >= 0.8 ? "≥ 0.80: met" : "≥ 0.80: **missed**",
                _ => "",
            } : "";
            var last = rates[target][^1];
            page.AppendLine(c, $"| {target.Registry} | {target.Label} | {open[target]:F0} ({Rounds(rates[target].Select(r => r.RequestsPerSecond), "F0")}) | {last.Ms(0.5):F2} | {last.Ms(0.99):F2} | {rates[target].Sum(r => r.Errors)} | {ratio:F2} | {goal} |");
        }

        page.AppendLine().AppendLine("## Token endpoint").AppendLine();
        page.AppendLine(c, $"`GET /auth/token?service=…&scope=repository:{Repository}:pull` with the admin's Basic credentials, {options.Connections} connections, closed loop: every request after the first finds the password check cached (`Registry:Access:CredentialCacheTime`) and signs a new ES256 token.").AppendLine();
        page.AppendLine("| Registry | tokens/s | p50 ms | p99 ms | errors |");
        page.AppendLine("|---|---:|---:|---:|---:|");
        page.AppendLine(c, $"| this registry | {Mean(tokens.Select(t => t.RequestsPerSecond)):F0} ({Rounds(tokens.Select(t => t.RequestsPerSecond), "F0")}) | {tokens[^1].Ms(0.5):F2} | {tokens[^1].Ms(0.99):F2} | {tokens.Sum(t => t.Errors)} |");

        page.AppendLine().AppendLine("## Push and pull").AppendLine();
        page.AppendLine(c, $"{options.Blobs} blobs of {options.BlobSize >> 20} MiB, {options.TransferConcurrency} at a time: pushed monolithically (POST, then PUT with the body), then pulled back; MB/s of bytes moved. The bearer token is got once for pull and push, as clients do.").AppendLine();
        page.AppendLine("| Registry | Credentials | push MB/s | pull MB/s | push vs. open | pull vs. open |");
        page.AppendLine("|---|---|---:|---:|---:|---:|");
        foreach (var target in transfers)
        {
            var baseline = throughput[transfers.First(t => t.Registry == target.Registry && t.Credentials == Credentials.None)];
            var (push, pull) = (Mean(throughput[target].Select(t => t.Push)), Mean(throughput[target].Select(t => t.Pull)));
            page.AppendLine(c, $"| {target.Registry} | {target.Label} | {push:F0} ({Rounds(throughput[target].Select(t => t.Push), "F0")}) | {pull:F0} ({Rounds(throughput[target].Select(t => t.Pull), "F0")}) | {push / Mean(baseline.Select(t => t.Push)):F2} | {pull / Mean(baseline.Select(t => t.Pull)):F2} |");
        }

        return page.ToString();
    }
}

/// <summary>What one closed loop measured: requests answered inside the window per second, failures, and latencies in stopwatch ticks, ascending.</summary>
internal sealed record LoopResult(double RequestsPerSecond, long Errors, long[] SortedTicks)
{
    public double Ms(double q) => SortedTicks[(int)Math.Round(q * (SortedTicks.Length - 1))] * 1000.0 / Stopwatch.Frequency;
}
