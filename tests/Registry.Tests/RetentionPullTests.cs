using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Registry.Api.Lifecycle;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>
/// Pull times for retention (docs/retention.md): batched in the HTTP host, one repository call
/// and state write per flush however many pulls, and flushed at a graceful stop.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class RetentionPullTests
{
    [Fact]
    public async Task AThousandPullsCostNoStateWriteUntilTheFlushAndThenOne()
    {
        await using var host = await RegistryHost.StartAsync(null, "--Registry:Retention:PullFlushInterval=01:00:00");
        var writes = host.Service<RetentionMetrics>();
        var client = host.Client;
        const string name = "pulls/app";
        var pulled = await client.PushImageAsync(name, "pulled");
        await client.PushImageAsync(name, "idle");
        var recorder = host.Service<PullRecorder>();
        var before = writes.PullWrites;
        var callsBefore = recorder.FlushCalls;

        await PullManyAsync(client, name, "pulled", pulled.Digest, 1000);
        Assert.Equal(before, writes.PullWrites);

        await recorder.FlushAsync();
        Assert.Equal(1, writes.PullWrites - before);
        Assert.Equal(1, recorder.FlushCalls - callsBefore);

        // An empty flush calls nobody.
        await recorder.FlushAsync();
        Assert.Equal(1, recorder.FlushCalls - callsBefore);

        await RetentionTests.PutPolicyAsync(client, "pulls", "pulled", new { keepPulledWithin = "1h" });
        var report = await RetentionTests.RunAtAsync(host, "pulls", "pulled", DateTimeOffset.UtcNow, dryRun: true);
        Assert.Equal(["idle"], Assert.Single(report.Changed).Result.Tags.Select(t => t.Tag));
    }

    [Fact]
    public async Task ThePeriodicFlushWritesAtMostOncePerIntervalAndRepository()
    {
        var interval = TimeSpan.FromMilliseconds(500);
        await using var host = await RegistryHost.StartAsync(null, "--Registry:Retention:PullFlushInterval=00:00:00.500");
        var writes = host.Service<RetentionMetrics>();
        var client = host.Client;
        const string name = "pulls/periodic";
        var image = await client.PushImageAsync(name, "latest");
        var before = writes.PullWrites;

        var elapsed = Stopwatch.StartNew();
        await PullManyAsync(client, name, "latest", image.Digest, 1000);
        var took = elapsed.Elapsed;

        // The timer flushes on its own.
        await Poll.UntilAsync(() => Task.FromResult(writes.PullWrites > before), "a periodic flush writes the pulls");
        var limit = (int)(took / interval) + 2;
        Assert.True(writes.PullWrites - before <= limit, $"{writes.PullWrites - before} state writes for 1000 pulls in {took} (interval {interval}); at most {limit} expected");
    }

    [Fact]
    public async Task PullsBeforeAGracefulRestartAreRemembered()
    {
        var data = Directory.CreateTempSubdirectory("registry-retention-").FullName;
        try
        {
            string[] settings = ["--Registry:Retention:PullFlushInterval=01:00:00"];
            var first = await RegistryHost.StartAsync(data, settings);
            const string name = "restart/app";
            var pulled = await first.Client.PushImageAsync(name, "pulled");
            await first.Client.PushImageAsync(name, "idle");
            using (var get = await first.Client.GetAsync($"/v2/{name}/manifests/{pulled.Digest}"))
            {
                Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            }

            // Nothing flushed the pull before the stop: an hour's interval, no explicit flush.
            Assert.Equal(0, first.Service<PullRecorder>().FlushCalls);
            await first.StopAsync();

            await using var second = await RegistryHost.StartAsync(data, settings);
            await RetentionTests.PutPolicyAsync(second.Client, "restart", "pulled", new { keepPulledWithin = "1h" });
            var report = await RetentionTests.RunAtAsync(second, "restart", "pulled", DateTimeOffset.UtcNow, dryRun: true);
            Assert.Equal(["idle"], Assert.Single(report.Changed).Result.Tags.Select(t => t.Tag));
        }
        finally
        {
            try
            {
                Directory.Delete(data, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>GETs the manifest <paramref name="count"/> times, by tag and by digest in turn, 20 at a time.</summary>
    private static async Task PullManyAsync(HttpClient client, string name, string tag, string digest, int count)
    {
        for (var i = 0; i < count; i += 20)
        {
            await Task.WhenAll(Enumerable.Range(i, 20).Select(async n =>
            {
                using var get = await client.GetAsync($"/v2/{name}/manifests/{(n % 2 == 0 ? tag : digest)}");
                Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            }));
        }
    }
}
