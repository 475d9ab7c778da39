using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace Registry.Tests;

/// <summary>
/// The replica that holds a namespace's event log killed with <c>kill -9</c> under a watch on a
/// survivor: the watch keeps its heartbeats (or ends at once, and resumes from its last id), and
/// the events of the pushes before and after the kill each arrive once.
/// </summary>
[Trait("Category", TestCategories.Process)]
[Trait("Category", TestCategories.Azurite)]
public sealed class ClusterWatchFailoverTests(ITestOutputHelper output)
{
    /// <summary>The watch's heartbeat in this test; a survivor's watch may be silent for at most <see cref="MaxSilence"/>.</summary>
    private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(1);

    /// <summary>A few seconds: the heartbeat, and room for a machine shared with other test processes.</summary>
    private static readonly TimeSpan MaxSilence = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task AWatchOnASurvivorKeepsBeatingAndLosesNothingWhenTheLogsReplicaIsKilled()
    {
        // Each replica also feeds an audit log of its own (an in-process subscriber of the cluster's stream).
        using var data = new TempDirectory();
        await using var azurite = await Azurite.StartAsync();
        var clusterId = RegistryCluster.NewClusterId("watchkill");
        var replicas = await Task.WhenAll(Enumerable.Range(0, 3).Select(i => RegistryProcess.StartAsync(
            azurite.ConnectionString,
            clusterId,
            settings: [("Registry__Events__Watch__Heartbeat", "00:00:01"), ("Registry__Audit__Path", Path.Combine(data.Path, $"audit-{i}.log"))])));
        await using var stop = new AsyncDisposables(replicas);
        var audits = replicas.Select((r, i) => (Replica: r, Path: Path.Combine(data.Path, $"audit-{i}.log"))).ToArray();
        string Output() => string.Join("\n", replicas.Select(r => $"==== :{r.HttpPort} (exited {r.HasExited})\n{r.Output}"));
        var ns = "w" + Guid.NewGuid().ToString("N")[..12];
        var name = $"{ns}/app";

        // The namespace's log activates on one of the three with the first push; that one is killed.
        await replicas[0].Client.PushImageAsync(name, "v0", layers: 1);
        var host = await LogHostAsync(replicas);
        var survivors = replicas.Where(r => r != host).ToArray();
        var watcher = survivors[0];
        output.WriteLine($"the log of '{ns}' lives on :{host.HttpPort}; watching through :{watcher.HttpPort}");

        var streams = new List<WatchStream> { await WatchStream.OpenAsync(watcher.Client, $"namespace={ns}&since=0") };
        var events = new List<SseEvent>();
        try
        {
            events.AddRange(await streams[^1].ReadUntilAsync(e => e.Tag == "v0"));
            var client = new RoundRobinClient(survivors, attemptTimeout: TimeSpan.FromSeconds(40), maxAttempts: 60);
            List<string> tags = ["v0"];
            for (var i = 1; i <= 3; i++)
            {
                tags.Add((await ClusterKillTests.PushAsync(client, name, $"before{i}")).Tag);
            }

            events.AddRange(await streams[^1].ReadUntilAsync(e => e.Tag == "before3"));

            host.KillHard();
            var killed = Stopwatch.GetTimestamp();
            for (var i = 1; i <= 4; i++)
            {
                tags.Add((await ClusterKillTests.PushAsync(client, name, $"after{i}")).Tag);
            }

            output.WriteLine($"4 pushes after the kill acknowledged within {Stopwatch.GetElapsedTime(killed).TotalSeconds:F1} s ({client.Retries} requests retried)");

            // Read until the last push is seen; a stream the server ends is reopened from its last id.
            var deadline = Stopwatch.StartNew();
            while (!events.Any(e => e.Tag == "after4"))
            {
                Assert.True(deadline.Elapsed < Bounded.Timeout, $"the events after the kill did not all arrive; seen: {string.Join(", ", events.Select(e => e.Tag))}\n{Output()}");
                var watch = streams[^1];
                if (watch.TryNext(out var e))
                {
                    events.Add(e!);
                }
                else if (watch.Ended)
                {
                    output.WriteLine($"the watch ended {Stopwatch.GetElapsedTime(killed).TotalSeconds:F1} s after the kill; reconnecting from id {watch.LastEventId}");
                    streams.Add(await WatchStream.OpenAsync(watcher.Client, $"namespace={ns}", watch.LastEventId));
                }
                else
                {
                    // A bounded poll of the client's buffer (the stream fills it on its own).
                    await Task.Delay(50);
                }
            }

            var arrived = Stopwatch.GetElapsedTime(killed);
            var silence = LongestSilence(streams, killed);
            output.WriteLine($"after the kill: longest silence of the watch {silence.TotalSeconds:F1} s (heartbeat {Heartbeat.TotalSeconds:F0} s), {streams.Count - 1} reconnect(s), the last event arrived {arrived.TotalSeconds:F1} s after the kill");
            Assert.True(silence <= MaxSilence, $"the watch was silent for {silence.TotalSeconds:F1} s after the kill\n{Output()}");

            // Every push once, in the order acknowledged, under ids that only grow.
            var pushes = events.Where(e => e.Event == "push" && e.Tag is not null).ToList();
            Assert.Equal(tags, pushes.Select(e => e.Tag));
            Assert.Equal(events.Count, events.Select(e => e.EventId).Distinct().Count());
            Assert.Equal(events.Count, events.Select(e => e.Sequence).Distinct().Count());
            Assert.True(events.Select(e => e.Sequence).SequenceEqual(events.Select(e => e.Sequence).Order()), string.Join(", ", events.Select(e => e.Id)));

            // The survivors' in-process subscribers got every push too, each once.
            foreach (var (replica, path) in audits.Where(a => a.Replica != host))
            {
                await Poll.UntilAsync(async () => (await AuditFile.ReadAsync(path)).Any(l => l.Str("tag") == "after4"), $"the audit log of :{replica.HttpPort} has the last push");
                var logged = (await AuditFile.ReadAsync(path)).Where(l => l.Str("repository") == name && l.Str("tag") is not null).ToList();
                Assert.Equal(tags, logged.Select(l => l.Str("tag")));
                Assert.Equal(logged.Count, logged.Select(l => l.Str("id")).Distinct().Count());
            }
        }
        finally
        {
            foreach (var stream in streams)
            {
                await stream.DisposeAsync();
            }
        }
    }

    /// <summary>The replica that activated the namespace event log (the only log in a fresh cluster), from each one's metrics.</summary>
    private static async Task<RegistryProcess> LogHostAsync(IReadOnlyList<RegistryProcess> replicas)
    {
        RegistryProcess? host = null;
        await Poll.UntilAsync(
            async () =>
            {
                var hosts = new List<RegistryProcess>();
                foreach (var replica in replicas)
                {
                    var metrics = await replica.Client.GetStringAsync("/metrics");
                    if (metrics.Split('\n').Any(l => l.StartsWith("orleans_catalog_activation_created_total{", StringComparison.Ordinal)
                        && l.Contains("grain_type=\"namespaceeventlog\"", StringComparison.Ordinal)
                        && double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture) > 0))
                    {
                        hosts.Add(replica);
                    }
                }

                host = hosts.Count == 1 ? hosts[0] : null;
                return host is not null;
            },
            "one replica has activated the namespace's event log");
        return host!;
    }

    /// <summary>The longest time after <paramref name="since"/> without a line, an end or a reconnect on any of the streams.</summary>
    private static TimeSpan LongestSilence(List<WatchStream> streams, long since)
    {
        var times = streams.SelectMany(s => s.Activity).Where(t => t >= since).Order().Prepend(since).ToArray();
        var longest = TimeSpan.Zero;
        for (var i = 1; i < times.Length; i++)
        {
            var gap = Stopwatch.GetElapsedTime(times[i - 1], times[i]);
            longest = gap > longest ? gap : longest;
        }

        return longest;
    }

    /// <summary>Disposes the replicas (each stops its process) when the test ends, whatever happened.</summary>
    private sealed class AsyncDisposables(IEnumerable<IAsyncDisposable> items) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            foreach (var item in items)
            {
                await item.DisposeAsync();
            }
        }
    }
}
