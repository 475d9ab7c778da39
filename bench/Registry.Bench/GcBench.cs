using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Registry.Bench;

public sealed record GcBenchOptions(
    Uri Url,
    int Pid,
    string DataDirectory,
    int Repositories,
    int BlobsPerImage,
    int GarbageEvery,
    int Rounds,
    int Pushes,
    int PushKiB,
    string Out,
    string Command);

/// <summary>
/// Garbage collection at scale (bench/gc.sh): seeds a registry in embedded mode with
/// <see cref="GcBenchOptions.Repositories"/> repositories of one image each (a config and
/// layers: tiny blobs); every <see cref="GcBenchOptions.GarbageEvery"/>th repository's blobs are
/// unlinked again (garbage). Every blob file is then aged past the grace period (its modification
/// time, which the filesystem driver lists), and one collection runs: its duration, figures, the
/// registry's peak RSS during it and the blob store's bytes on disk before and after. Then rounds of
/// a fixed push workload alternate without and with a collection running.
/// </summary>
public sealed class GcBench(GcBenchOptions options, TextWriter log)
{
    private const string Collections = "/apis/registry/v1/garbagecollections";
    private const int SeedConcurrency = 32;

    public async Task<int> RunAsync(CancellationToken ct)
    {
        using var client = new RegistryClient(options.Url, SeedConcurrency + 8);
        var load = File.ReadAllText("/proc/loadavg").Split(' ')[..3];
        var started = DateTime.UtcNow;

        var seedClock = Stopwatch.StartNew();
        var (blobs, garbage, garbageBytes) = await SeedAsync(client, ct);
        var seedSeconds = seedClock.Elapsed.TotalSeconds;
        log.WriteLine($"seeded {blobs} blobs in {options.Repositories} repositories in {seedSeconds:F0} s; {garbage} blobs ({garbageBytes} bytes) unlinked");

        // Older than the grace period: every blob file's modification time three days back.
        var blobRoot = Path.Combine(options.DataDirectory, "blobs");
        var aged = DateTime.UtcNow - TimeSpan.FromDays(3);
        foreach (var file in Directory.EnumerateFiles(blobRoot, "*", SearchOption.AllDirectories))
        {
            File.SetLastWriteTimeUtc(file, aged);
        }

        var before = BytesOnDisk(blobRoot);
        var rssBefore = new ProcessProbe(options.Pid).Read()?.VmRssKiB ?? 0;
        JsonElement first;
        long peakKiB;
        double firstCpu;
        await using (var probe = new ProcessProbe(options.Pid))
        {
            var cpuBefore = CpuSeconds(probe);
            first = await CollectAsync(client, ct);
            firstCpu = CpuSeconds(probe) - cpuBefore;
            peakKiB = probe.MaxSampledRssKiB;
        }

        var hwmKiB = new ProcessProbe(options.Pid).Read()?.VmHwmKiB ?? 0;
        var after = BytesOnDisk(blobRoot);
        var status = first.GetProperty("status");
        log.WriteLine($"collection: {status.GetProperty("durationSeconds").GetDouble():F1} s, {status.GetProperty("blobsReclaimed").GetInt64()} of {status.GetProperty("blobsExamined").GetInt64()} blobs reclaimed, {firstCpu:F1} CPU-s");

        // A second collection alone, as the push rounds' ones run: nothing to reclaim, repositories active.
        double warmCpu, warmSeconds;
        await using (var probe = new ProcessProbe(options.Pid))
        {
            var cpuBefore = CpuSeconds(probe);
            warmSeconds = (await CollectAsync(client, ct)).GetProperty("status").GetProperty("durationSeconds").GetDouble();
            warmCpu = CpuSeconds(probe) - cpuBefore;
        }

        log.WriteLine($"second collection alone: {warmSeconds:F1} s, {warmCpu:F1} CPU-s");

        // Push throughput without and with a collection running, alternating, same run.
        var rounds = new List<Round>();
        for (var round = 0; round < options.Rounds * 2; round++)
        {
            var collecting = round % 2 == 1;
            rounds.Add(await PushRoundAsync(client, collecting, round, ct));
            log.WriteLine($"round {round} ({(collecting ? "collecting" : "quiet")}): {rounds[^1].MBps:F1} MB/s, {rounds[^1].PushesPerSecond:F1} pushes/s, {rounds[^1].CpuSeconds:F1} CPU-s, overlap {rounds[^1].Overlap:P0} ({rounds[^1].Collections} collections)");
        }

        await WriteAsync(started, load, blobs, garbage, garbageBytes, seedSeconds, status, before, after, rssBefore, peakKiB, hwmKiB, (firstCpu, warmSeconds, warmCpu), rounds);
        var exact = status.GetProperty("bytesReclaimed").GetInt64() == before - after && status.GetProperty("blobsReclaimed").GetInt64() == garbage;
        return exact ? 0 : 1;
    }

    private async Task<(long Blobs, long Garbage, long GarbageBytes)> SeedAsync(RegistryClient client, CancellationToken ct)
    {
        long blobs = 0, garbage = 0, garbageBytes = 0;
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, SeedConcurrency).Select(async _ =>
        {
            int r;
            while ((r = Interlocked.Increment(ref next)) < options.Repositories)
            {
                var repository = $"gcbench/r{r:D5}";
                var layers = new List<(string Digest, int Size)>();
                for (var l = 0; l < options.BlobsPerImage - 1; l++)
                {
                    var content = Encoding.UTF8.GetBytes($"layer {r} {l} {Guid.NewGuid():N}");
                    layers.Add((await PostAsync(client, repository, content, ct), content.Length));
                }

                var config = Encoding.UTF8.GetBytes($$"""{"architecture":"amd64","os":"linux","bench":"{{r}}-{{Guid.NewGuid():N}}"}""");
                var configDigest = await PostAsync(client, repository, config, ct);
                Interlocked.Add(ref blobs, options.BlobsPerImage);
                if (r % options.GarbageEvery == 0)
                {
                    // Garbage: every link of this repository goes again, no manifest names them.
                    foreach (var (digest, _) in layers.Append((configDigest, config.Length)))
                    {
                        using var unlink = await client.Http.DeleteAsync(client.Resolve($"/v2/{repository}/blobs/{digest}"), ct);
                        await RegistryClient.ExpectAsync(unlink, HttpStatusCode.Accepted, "blob unlink");
                    }

                    Interlocked.Add(ref garbage, options.BlobsPerImage);
                    Interlocked.Add(ref garbageBytes, layers.Sum(l => (long)l.Size) + config.Length);
                    continue;
                }

                var manifest = Encoding.UTF8.GetBytes(
                    $$"""{"schemaVersion":2,"mediaType":"{{RegistryClient.OciManifest}}","config":{"mediaType":"{{RegistryClient.OciConfig}}","digest":"{{configDigest}}","size":{{config.Length}}},"layers":[{{string.Join(',', layers.Select(l => $$"""{"mediaType":"{{RegistryClient.OciLayer}}","digest":"{{l.Digest}}","size":{{l.Size}}}"""))}}]}""");
                await client.PutManifestAsync(repository, "v1", manifest, ct);
                Interlocked.Increment(ref blobs);
                if (r % 1000 == 0)
                {
                    log.WriteLine($"  seeded up to repository {r}");
                }
            }
        }));
        return (blobs, garbage, garbageBytes);
    }

    private static async Task<string> PostAsync(RegistryClient client, string repository, byte[] content, CancellationToken ct)
    {
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));
        using var request = new HttpRequestMessage(HttpMethod.Post, client.Resolve($"/v2/{repository}/blobs/uploads/?digest={digest}")) { Content = new ByteArrayContent(content) };
        using var response = await client.Http.SendAsync(request, ct);
        await RegistryClient.ExpectAsync(response, HttpStatusCode.Created, "single-POST upload");
        return digest;
    }

    /// <summary>Starts a collection and waits for it to finish; its resource.</summary>
    private static async Task<JsonElement> CollectAsync(RegistryClient client, CancellationToken ct)
    {
        var http = client.Http;
        using (var start = await http.PostAsJsonAsync(client.Resolve(Collections), new { kind = "GarbageCollection" }, ct))
        {
            if (start.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.Accepted))
            {
                throw new BenchException($"starting a collection answered {(int)start.StatusCode}: {await start.Content.ReadAsStringAsync(ct)}");
            }
        }

        while (true)
        {
            using var last = await http.GetAsync(client.Resolve(Collections + "/last"), ct);
            var body = await last.Content.ReadFromJsonAsync<JsonElement>(ct);
            if (body.GetProperty("status").GetProperty("phase").GetString() != "Running")
            {
                return body;
            }

            // A status poll, bounded by the collection.
            await Task.Delay(200, ct);
        }
    }

    /// <summary>
    /// The fixed workload: images of one layer of <see cref="GcBenchOptions.PushKiB"/>, 4 at a time.
    /// With <paramref name="collecting"/>, collections run back to back from the round's start until
    /// its pushes are done, so the whole round overlaps one (the last may outlast it).
    /// </summary>
    private async Task<Round> PushRoundAsync(RegistryClient client, bool collecting, int round, CancellationToken ct)
    {
        var blobs = Enumerable.Range(0, options.Pushes).Select(_ => new PatternBlob((long)options.PushKiB << 10, (ulong)Random.Shared.NextInt64())).ToArray();
        foreach (var blob in blobs)
        {
            _ = blob.Digest;
        }

        using var pushesDone = new CancellationTokenSource();
        var collections = collecting ? CollectWhileAsync(client, pushesDone.Token, ct) : Task.FromResult(new List<(DateTimeOffset, DateTimeOffset)>());
        var probe = new ProcessProbe(options.Pid);
        await using var disposeProbe = probe;
        var cpuBefore = CpuSeconds(probe);
        var next = -1;
        var clock = Stopwatch.StartNew();
        var windowStart = DateTimeOffset.UtcNow;
        await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < blobs.Length)
            {
                var repository = $"gcbench-push/round{round}-{i % 8}";
                await client.PushMonolithicAsync(repository, blobs[i], ct);
                var config = Encoding.UTF8.GetBytes($$"""{"architecture":"amd64","os":"linux","round":"{{round}}-{{i}}"}""");
                var configDigest = await PostAsync(client, repository, config, ct);
                var manifest = Encoding.UTF8.GetBytes(
                    $$"""{"schemaVersion":2,"mediaType":"{{RegistryClient.OciManifest}}","config":{"mediaType":"{{RegistryClient.OciConfig}}","digest":"{{configDigest}}","size":{{config.Length}}},"layers":[{"mediaType":"{{RegistryClient.OciLayer}}","digest":"{{blobs[i].Digest}}","size":{{blobs[i].Size}}}]}""");
                await client.PutManifestAsync(repository, $"t{i}", manifest, ct);
            }
        }));
        var seconds = clock.Elapsed.TotalSeconds;
        var cpu = CpuSeconds(probe) - cpuBefore;
        var windowEnd = DateTimeOffset.UtcNow;
        await pushesDone.CancelAsync();
        var runs = await collections;
        double covered = 0;
        foreach (var (from, to) in runs)
        {
            covered += Math.Max(0, (Min(to, windowEnd) - Max(from, windowStart)).TotalSeconds);
        }

        var overlap = runs.Count == 0 ? 0 : Math.Clamp(covered / (windowEnd - windowStart).TotalSeconds, 0, 1);
        var collectionSeconds = runs.Count == 0 ? 0 : runs.Average(r => (r.Item2 - r.Item1).TotalSeconds);
        return new Round(collecting, blobs.Sum(b => b.Size) / seconds / 1e6, blobs.Length / seconds, cpu, overlap, runs.Count, collectionSeconds);
    }

    /// <summary>Collections one after another until <paramref name="until"/>; each one's start and finish.</summary>
    private static async Task<List<(DateTimeOffset, DateTimeOffset)>> CollectWhileAsync(RegistryClient client, CancellationToken until, CancellationToken ct)
    {
        var runs = new List<(DateTimeOffset, DateTimeOffset)>();
        do
        {
            var status = (await CollectAsync(client, ct)).GetProperty("status");
            runs.Add((status.GetProperty("startedAt").GetDateTimeOffset(), status.GetProperty("finishedAt").GetDateTimeOffset()));
        }
        while (!until.IsCancellationRequested);
        return runs;
    }

    private static double CpuSeconds(ProcessProbe probe)
        => probe.Read()?.CpuSeconds ?? throw new BenchException("the registry process is gone");

    private sealed record Round(bool Collecting, double MBps, double PushesPerSecond, double CpuSeconds, double Overlap, int Collections, double CollectionSeconds);

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    private static long BytesOnDisk(string root)
        => Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

    private async Task WriteAsync(
        DateTime started,
        string[] load,
        long blobs,
        long garbage,
        long garbageBytes,
        double seedSeconds,
        JsonElement status,
        long before,
        long after,
        long rssBeforeKiB,
        long peakKiB,
        long hwmKiB,
        (double FirstCpu, double WarmSeconds, double WarmCpu) alone,
        List<Round> rounds)
    {
        var c = CultureInfo.InvariantCulture;
        string Long(string name) => status.GetProperty(name).GetInt64().ToString("N0", c);
        var quiet = rounds.Where(r => !r.Collecting).ToList();
        var busy = rounds.Where(r => r.Collecting).ToList();
        var ratio = busy.Average(r => r.MBps) / quiet.Average(r => r.MBps);
        var commit = Git("rev-parse --short HEAD");
        var text = new StringBuilder();
        text.AppendLine("# Benchmarks: garbage collection at scale");
        text.AppendLine();
        text.AppendLine(string.Create(c, $"Written by `{options.Command}` on {started:yyyy-MM-dd HH:mm} UTC, commit `{commit}`: {Environment.ProcessorCount} CPUs ({MachineInfo.CpuModel()}), {MachineInfo.MemTotalGiB():F1} GiB, load average {string.Join(' ', load)} at the start."));
        text.AppendLine("One registry process in embedded mode (filesystem driver, Release publish, Server GC off as in deploy/), default settings (no policies; `Registry:GarbageCollection:DutyCycle` 0.2) unless the command above sets them, the benchmark client on the same machine over loopback.");
        text.AppendLine();
        text.AppendLine("## One collection");
        text.AppendLine();
        text.AppendLine(string.Create(c, $"Seeded through `/v2` in {seedSeconds:F0} s ({SeedConcurrency} connections): {options.Repositories:N0} repositories, each one image of {options.BlobsPerImage - 1} layers and a config (tiny blobs, 50–100 bytes) and its manifest; in every {options.GarbageEvery}th repository the blobs were unlinked again and no manifest was pushed (garbage). {blobs:N0} blobs stored, {garbage:N0} of them garbage ({garbageBytes:N0} bytes). Then every blob file's modification time was set 3 days back (past the 48 h grace period), and one collection ran (`POST {Collections}`)."));
        text.AppendLine();
        text.AppendLine("| Figure | Value |");
        text.AppendLine("|---|---:|");
        text.AppendLine(string.Create(c, $"| Duration (`durationSeconds`) | {status.GetProperty("durationSeconds").GetDouble():F1} s |"));
        text.AppendLine(string.Create(c, $"| Registry CPU time during it (user + system, `/proc/PID/stat`) | {alone.FirstCpu:F1} CPU-s |"));
        text.AppendLine($"| Blobs examined | {Long("blobsExamined")} |");
        text.AppendLine($"| Bytes examined | {Long("bytesExamined")} |");
        text.AppendLine($"| Repositories marked | {Long("repositoriesMarked")} |");
        text.AppendLine($"| Blobs reclaimed | {Long("blobsReclaimed")} (expected {garbage:N0}) |");
        text.AppendLine($"| Bytes reclaimed | {Long("bytesReclaimed")} (expected {garbageBytes:N0}) |");
        text.AppendLine($"| Repositories removed (left empty) | {Long("repositoriesRemoved")} |");
        text.AppendLine(string.Create(c, $"| Blob store on disk before → after | {before:N0} → {after:N0} bytes (difference {before - after:N0}) |"));
        text.AppendLine(string.Create(c, $"| Registry RSS before the collection | {rssBeforeKiB / 1024.0:F0} MiB |"));
        text.AppendLine(string.Create(c, $"| Peak RSS during it (100 ms samples) | {peakKiB / 1024.0:F0} MiB |"));
        text.AppendLine(string.Create(c, $"| Peak RSS of the process's life, seeding included (VmHWM) | {hwmKiB / 1024.0:F0} MiB |"));
        text.AppendLine(string.Create(c, $"| A second collection alone (nothing to reclaim, repositories active): duration, CPU time | {alone.WarmSeconds:F1} s, {alone.WarmCpu:F1} CPU-s |"));
        text.AppendLine();
        text.AppendLine("## Pushes while a collection runs");
        text.AppendLine();
        text.AppendLine(string.Create(c, $"A fixed workload per round: {options.Pushes} images, each a {options.PushKiB} KiB layer (POST, then PUT with the body), a config (single POST) and a manifest, 4 at a time. Rounds alternate: without a collection, then with collections of the seeded registry (nothing left to reclaim) running back to back from the round's start until its last push, {options.Rounds} of each. Overlap: the share of the round's time during which a collection ran. Registry CPU: the process's user + system time during the round."));
        text.AppendLine();
        text.AppendLine("| Round | Collection | MB/s | pushes/s | registry CPU | overlap | collections (mean duration) |");
        text.AppendLine("|---:|---|---:|---:|---:|---:|---:|");
        for (var i = 0; i < rounds.Count; i++)
        {
            var r = rounds[i];
            text.AppendLine(string.Create(c, $"| {i + 1} | {(r.Collecting ? "running" : "none")} | {r.MBps:F1} | {r.PushesPerSecond:F1} | {r.CpuSeconds:F1} CPU-s | {(r.Collecting ? r.Overlap.ToString("P0", c) : "")} | {(r.Collecting ? $"{r.Collections} ({r.CollectionSeconds:F1} s)" : "")} |"));
        }

        text.AppendLine();
        text.AppendLine(string.Create(c, $"Mean with a collection running / without: **{ratio:F2}** of the MB/s (target ≥ 0.8: {(ratio >= 0.8 ? "met" : "not met")}), {busy.Average(r => r.PushesPerSecond) / quiet.Average(r => r.PushesPerSecond):F2} of the pushes/s."));
        await File.WriteAllTextAsync(options.Out, text.ToString());
        log.WriteLine($"wrote {options.Out}");
    }

    private static string Git(string arguments)
    {
        try
        {
            using var git = Process.Start(new ProcessStartInfo("git", arguments) { RedirectStandardOutput = true, UseShellExecute = false })!;
            var output = git.StandardOutput.ReadToEnd().Trim();
            git.WaitForExit();
            return output;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown";
        }
    }
}
