using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using Xunit.Abstractions;

namespace Registry.Tests;

/// <summary>
/// A replica killed with <c>kill -9</c> while clients that never retry push and pull through the
/// survivors: skopeo with its default settings and a loop of manifest GETs. The survivors absorb
/// the takeover inside the requests (grain calls safe to retry are retried while the cluster
/// declares the replica dead), so every request succeeds, and no survivor is declared dead by
/// mistake. For bench/failover.sh: FAILOVER_ROUNDS (default 1) repeats the kill on the same
/// cluster, a fresh replica replacing the dead one each time; FAILOVER_LOAD_SECONDS (default 2)
/// is how long the traffic runs before the kill, FAILOVER_GET_WORKERS (default 4) how many GET
/// loops run; FAILOVER_REPORT names a file that gets one line of figures per round.
/// </summary>
[Trait("Category", TestCategories.Process)]
[Trait("Category", TestCategories.Azurite)]
[Trait("Category", TestCategories.Skopeo)]
public sealed class FailoverTests(ITestOutputHelper output) : IDisposable
{
    private const int SeededRepositories = 18;

    private static readonly int GetWorkers = Setting("FAILOVER_GET_WORKERS", 4);

    private static readonly TimeSpan LoadBeforeKill = TimeSpan.FromSeconds(Setting("FAILOVER_LOAD_SECONDS", 2));

    private readonly string _work = Directory.CreateTempSubdirectory("failover-").FullName;

    public void Dispose() => Skopeo.TryDelete(_work);

    [Fact]
    public async Task ClientsThatDoNotRetryDoNotNoticeAReplicaKilledUnderThem()
    {
        var rounds = Setting("FAILOVER_ROUNDS", 1);
        var report = Environment.GetEnvironmentVariable("FAILOVER_REPORT");
        await using var cluster = await RegistryCluster.StartAsync("failover", 3, ("Logging__LogLevel__Registry.Silo.Failover", "Information"));
        var live = cluster.Replicas.ToList();
        var layout = OciLayout.Create(Path.Combine(_work, "layout"));
        var image = layout.WriteImage(layers: 2, firstLayerBytes: 512 * 1024);
        layout.Tag(image.Manifest, "v1");

        var failures = new List<string>();
        for (var round = 1; round <= rounds; round++)
        {
            if (live.Count < 3)
            {
                live.AddRange(await cluster.StartReplicasAsync(3 - live.Count));
            }

            var victim = live[0];
            var survivors = live.Skip(1).ToArray();
            var result = await RunRoundAsync(cluster, layout, victim, survivors, round);
            live.Remove(victim);
            var line = result.Describe(round);
            output.WriteLine(line);
            foreach (var failure in result.Failures.Take(10))
            {
                output.WriteLine("  failed: " + failure);
            }

            if (report is { Length: > 0 })
            {
                await File.AppendAllTextAsync(report, line + Environment.NewLine);
            }

            failures.AddRange(result.Failures.Select(f => $"round {round}: {f}"));
            foreach (var survivor in survivors)
            {
                // A survivor declared dead under the load would be a false positive of the membership settings.
                var status = await cluster.SiloStatusAsync(survivor.SiloPort);
                if (status != "Active" || survivor.HasExited)
                {
                    failures.Add($"round {round}: survivor :{survivor.HttpPort} is {status} (exited: {survivor.HasExited})");
                }
            }
        }

        // Every replica's log, the killed ones' included (cluster.Replicas holds only the latest started).
        var absorbed = CountLines(cluster.Output(), "a silo failure was absorbed");
        output.WriteLine($"grain calls absorbed by the failover retries (replicas' logs): {absorbed}");
        if (report is { Length: > 0 })
        {
            await File.AppendAllTextAsync(report, $"absorbed {absorbed} grain calls{Environment.NewLine}");
        }

        Assert.True(failures.Count == 0, $"{failures.Count} requests failed:\n{string.Join("\n", failures.Take(20))}\n{cluster.Output()[^Math.Min(cluster.Output().Length, 20_000)..]}");
    }

    private async Task<RoundResult> RunRoundAsync(RegistryCluster cluster, OciLayout layout, RegistryProcess victim, RegistryProcess[] survivors, int round)
    {
        // Repositories whose grains spread over all three replicas, the victim's among them.
        var everyone = survivors.Append(victim).ToArray();
        var seeded = new List<PushedImage>();
        var seeding = new RoundRobinClient(everyone, TimeSpan.FromSeconds(30), maxAttempts: 3);
        for (var i = 0; i < SeededRepositories; i++)
        {
            seeded.Add(await ClusterKillTests.PushAsync(seeding, SharedRegistry.UniqueName($"fo{round}"), "v1"));
        }

        Assert.Equal("Active", await cluster.SiloStatusAsync(victim.SiloPort));
        var result = new RoundResult();
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var gets = Enumerable.Range(0, GetWorkers).Select(w => GetLoopAsync(survivors[w % survivors.Length], seeded, w, result, clock, stop.Token)).ToArray();
        var skopeo = SkopeoLoopAsync(layout, survivors, seeded, round, result, clock, stop.Token);

        // The kill lands in the middle of the traffic.
        await Until(() => result.SkopeoRuns >= 2 && clock.Elapsed > LoadBeforeKill, "traffic before the kill", LoadBeforeKill + Bounded.Timeout);
        victim.KillHard();
        result.KilledAt = clock.Elapsed;

        // Keep the traffic going through the takeover and a little after it.
        using (var deadline = Bounded.Token())
        {
            while (await cluster.SiloStatusAsync(victim.SiloPort) != "Dead")
            {
                // A bounded poll of the membership table.
                await Task.Delay(100, deadline.Token);
            }
        }

        result.DeadAt = clock.Elapsed;
        await Until(() => clock.Elapsed > result.DeadAt + TimeSpan.FromSeconds(3) && result.SkopeoRunsAfter(result.DeadAt) >= 1, "traffic after the takeover");
        stop.Cancel();
        await Task.WhenAll(gets.Append(skopeo)).WithinAsync();
        return result;
    }

    /// <summary>Manifest GETs by tag through one survivor, each sent once, with a 30 s timeout.</summary>
    private static async Task GetLoopAsync(RegistryProcess through, List<PushedImage> images, int worker, RoundResult result, Stopwatch clock, CancellationToken stop)
    {
        using var client = new HttpClient { BaseAddress = through.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        for (var i = worker; !stop.IsCancellationRequested; i++)
        {
            var image = images[i % images.Count];
            var started = clock.Elapsed;
            string? failure;
            try
            {
                var served = await client.GetManifestAsync(image.Name, image.Tag, Oci.ManifestType);
                failure = served.Digest == image.Digest ? null : $"served {served.Digest}, pushed {image.Digest}";
            }
            catch (Exception e)
            {
                failure = e.Message;
            }

            result.Get(started, clock.Elapsed - started, failure is null ? null : $"GET {image.Name}:{image.Tag} on :{through.HttpPort} at {started.TotalSeconds:F1} s: {failure}");
        }
    }

    /// <summary>skopeo with default settings (no retries): a push of a new repository, then a pull of a seeded one, alternating survivors.</summary>
    private async Task SkopeoLoopAsync(OciLayout layout, RegistryProcess[] survivors, List<PushedImage> seeded, int round, RoundResult result, Stopwatch clock, CancellationToken stop)
    {
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            var through = survivors[i % survivors.Length];
            var started = clock.Elapsed;
            ProcessResult run;
            string what;
            if (i % 2 == 0)
            {
                what = $"push {SharedRegistry.UniqueName($"fo{round}push")}:v1";
                run = await Skopeo.RunAsync("copy", "--dest-tls-verify=false", "--dest-no-creds", $"oci:{layout.Root}:v1", $"docker://{through.Authority}/{what[5..]}");
            }
            else
            {
                var image = seeded[i % seeded.Count];
                var into = Path.Combine(_work, $"pull-{round}-{i}");
                what = $"pull {image.Name}:{image.Tag}";
                run = await Skopeo.RunAsync("copy", "--src-tls-verify=false", "--src-no-creds", $"docker://{through.Authority}/{image.Name}:{image.Tag}", $"oci:{into}:v1");
                Skopeo.TryDelete(into);
            }

            result.Skopeo(started, clock.Elapsed - started, run.ExitCode == 0 ? null : $"skopeo {what} on :{through.HttpPort} at {started.TotalSeconds:F1} s: {run.Describe()}");
        }
    }

    private static async Task Until(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        using var deadline = Bounded.Token(timeout ?? Bounded.Timeout);
        while (!condition())
        {
            Assert.False(deadline.IsCancellationRequested, $"timed out waiting for {what}");

            // A bounded poll of the workload's progress.
            await Task.Delay(50, CancellationToken.None);
        }
    }

    private static int Setting(string variable, int fallback)
        => int.TryParse(Environment.GetEnvironmentVariable(variable), out var value) && value > 0 ? value : fallback;

    private static int CountLines(string text, string what)
        => text.Split('\n').Count(l => l.Contains(what, StringComparison.Ordinal));

    /// <summary>What the clients saw in one round.</summary>
    private sealed class RoundResult
    {
        private readonly ConcurrentBag<(TimeSpan Start, TimeSpan Latency)> _gets = [];
        private readonly ConcurrentBag<(TimeSpan Start, TimeSpan Latency)> _skopeo = [];

        public ConcurrentQueue<string> Failures { get; } = new();

        public TimeSpan KilledAt { get; set; }

        public TimeSpan DeadAt { get; set; }

        public int SkopeoRuns => _skopeo.Count;

        public int SkopeoRunsAfter(TimeSpan at) => _skopeo.Count(s => s.Start > at);

        public void Get(TimeSpan start, TimeSpan latency, string? failure) => Record(_gets, start, latency, failure);

        public void Skopeo(TimeSpan start, TimeSpan latency, string? failure) => Record(_skopeo, start, latency, failure);

        /// <summary>One line of figures; "during the takeover": requests in flight between the kill and a second after the death declaration.</summary>
        public string Describe(int round)
        {
            var end = DeadAt + TimeSpan.FromSeconds(1);
            var takeover = _gets.Where(g => g.Start + g.Latency >= KilledAt && g.Start <= end).Select(g => g.Latency.TotalMilliseconds).Order().ToArray();
            var before = _gets.Where(g => g.Start + g.Latency < KilledAt).Select(g => g.Latency.TotalMilliseconds).Order().ToArray();
            var skopeo = _skopeo.Where(s => s.Start + s.Latency >= KilledAt && s.Start <= DeadAt).Select(s => s.Latency.TotalSeconds).ToArray();
            return string.Create(CultureInfo.InvariantCulture, $"round {round}: declared dead {(DeadAt - KilledAt).TotalSeconds:F1} s after the kill; " +
                $"GETs {_gets.Count} ({takeover.Length} during the takeover), failed {Failures.Count(f => f.StartsWith("GET", StringComparison.Ordinal))}; " +
                $"GET p50/p99/max before {P(before, 0.5):F0}/{P(before, 0.99):F0}/{P(before, 1):F0} ms, during the takeover {P(takeover, 0.5):F0}/{P(takeover, 0.99):F0}/{P(takeover, 1):F0} ms; " +
                $"skopeo runs {_skopeo.Count}, failed {Failures.Count(f => f.StartsWith("skopeo", StringComparison.Ordinal))}, longest across the takeover {(skopeo.Length == 0 ? 0 : skopeo.Max()):F1} s");
        }

        private static double P(double[] sorted, double q) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

        private void Record(ConcurrentBag<(TimeSpan, TimeSpan)> into, TimeSpan start, TimeSpan latency, string? failure)
        {
            into.Add((start, latency));
            if (failure is not null)
            {
                Failures.Enqueue(failure);
            }
        }
    }
}
