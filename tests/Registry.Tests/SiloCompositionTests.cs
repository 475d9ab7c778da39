using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Registry.Grains;
using Registry.Storage;

namespace Registry.Tests;

/// <summary>The embedded silo schedules the periodic jobs through the maintenance grain, with the configured periods.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class EmbeddedSiloCompositionTests
{
    [Fact]
    public async Task EmbeddedSiloSchedulesEachPeriodicJobOnce()
    {
        await using var host = await RegistryHost.StartAsync(null, "--Registry:Uploads:SweepInterval=00:10:00");
        var table = host.Service<IReminderTable>();
        var maintenance = host.Service<IGrainFactory>().GetGrain<IMaintenanceGrain>(0).GetGrainId();

        var rows = await SiloCompositionTests.JobsAsync(table, maintenance, expected: 3);

        Assert.Equal(TimeSpan.FromMinutes(10), rows[MaintenanceGrain.UploadSweep]);
        Assert.Equal(TimeSpan.FromMinutes(1), rows[MaintenanceGrain.WebhookWake]);
        Assert.Equal(TimeSpan.FromHours(24), rows[MaintenanceGrain.GarbageCollect]);
    }

    [Fact]
    public async Task AnUploadSweepTickExpiresUploadsOlderThanTheExpiryWithTheirStagedBytes()
    {
        await using var host = await RegistryHost.StartAsync(null, "--Registry:Uploads:Expiry=00:00:01");
        var name = SharedRegistry.UniqueName("sweep");
        using var start = await host.Client.PostAsync($"/v2/{name}/blobs/uploads/", null);
        Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        var uploads = Path.Combine(host.DataDirectory, StorageLayout.UploadsDirectory);
        Assert.Single(Directory.GetDirectories(uploads));

        // What the reminder delivers every SweepInterval; a tick only starts the sweep, so ask until it has run past the expiry.
        var tick = host.Service<IGrainFactory>().GetGrain<IMaintenanceGrain>(0).AsReference<IRemindable>();
        await Poll.UntilAsync(
            async () =>
            {
                await tick.ReceiveReminder(MaintenanceGrain.UploadSweep, default);
                using var status = await host.Client.GetAsync(start.Headers.Location);
                return status.StatusCode == HttpStatusCode.NotFound;
            },
            "a sweep tick expired the upload");

        await Poll.UntilAsync(() => Task.FromResult(Directory.GetDirectories(uploads).Length == 0), "its staging area is gone");
    }
}

/// <summary>
/// The silo's one composition root as the other hosts use it: the periodic jobs scheduled once per
/// cluster, the headless silo joining a cluster, and a clean start of the real executable.
/// </summary>
[Trait("Category", TestCategories.Process)]
[Trait("Category", TestCategories.Azurite)]
public sealed class SiloCompositionTests(AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    [Fact]
    public async Task ClusterSchedulesEachPeriodicJobOnceWhateverTheNumberOfSilos()
    {
        await using var cluster = await AzureTestCluster.StartAsync(azurite.ConnectionString, AzuriteFixture.UniqueName("m"), silos: 2);
        var maintenance = cluster.Client.GetGrain<IMaintenanceGrain>(0).GetGrainId();

        // Both silos asked the maintenance grain to schedule the jobs at start; the shared
        // reminder table holds one reminder per job, not one per silo.
        foreach (var silo in cluster.Silos)
        {
            var table = cluster.Cluster.GetSiloServiceProvider(silo.SiloAddress).GetRequiredService<IReminderTable>();
            var rows = await JobsAsync(table, maintenance, expected: 3);
            Assert.Equal(TimeSpan.FromHours(1), rows[MaintenanceGrain.UploadSweep]);
            Assert.Equal(TimeSpan.FromMinutes(1), rows[MaintenanceGrain.WebhookWake]);
            Assert.Equal(TimeSpan.FromHours(24), rows[MaintenanceGrain.GarbageCollect]);
        }

        // A silo that starts again asks again: the reminders are left as they are.
        await cluster.Client.GetGrain<IMaintenanceGrain>(0).Start();
        var table0 = cluster.Cluster.GetSiloServiceProvider(cluster.Silos[0].SiloAddress).GetRequiredService<IReminderTable>();
        Assert.Equal(3, (await JobsAsync(table0, maintenance, expected: 3)).Count);
    }

    [Fact]
    public async Task HeadlessSiloJoinsTheClusterAndTheRegistryServesThroughIt()
    {
        await using var cluster = await RegistryCluster.StartAsync("headless", replicas: 1);
        await using var headless = RegistryProcess.StartHeadlessSilo(cluster.Azurite.ConnectionString, cluster.ClusterId);
        await Poll.UntilAsync(async () => headless.HasExited || await cluster.SiloStatusAsync(headless.SiloPort) == "Active", "the headless silo is active in the membership table");
        Assert.False(headless.HasExited, headless.Output);

        // Grains are placed on both silos now; every push and pull through the API replica works.
        var api = cluster.Replicas[0].Client;
        for (var i = 0; i < 8; i++)
        {
            var name = SharedRegistry.UniqueName("headless");
            var (_, manifest) = await api.PushImageAsync(name, "v1", layers: 1);
            Assert.Equal(manifest, await api.GetByteArrayAsync($"/v2/{name}/manifests/v1"));
        }

        Assert.DoesNotContain("fail:", headless.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CleanStartSaysWhereItServesInOneLineAndWarnsOfNothing()
    {
        using var data = new TempDirectory();
        await using var registry = await EmbeddedProcess.StartAsync(data.Path, null, ("Logging__LogLevel__Default", "Information"), ("Logging__LogLevel__Orleans", "Information"));

        await Poll.UntilAsync(() => Task.FromResult(registry.Output.Contains("Registry serving on", StringComparison.Ordinal)), "the start line is logged");

        // Requests a client abandons (a reset mid-body) are not the registry's faults: no warning, no stack trace.
        using (var client = new System.Net.Sockets.TcpClient())
        {
            await client.ConnectAsync(System.Net.IPAddress.Loopback, registry.HttpPort);
            var head = $"POST /v2/clean/app/blobs/uploads/?digest=sha256:{new string('0', 64)} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\n";
            await client.GetStream().WriteAsync(System.Text.Encoding.ASCII.GetBytes(head + new string('x', 10_000)));
            client.LingerState = new System.Net.Sockets.LingerOption(true, 0);
        }

        await PushesAndPullsAsync(registry.Client);
        var output = registry.Output;
        Assert.Contains($"Registry serving on http://127.0.0.1:{registry.HttpPort} in Embedded mode, data in {Path.Combine(data.Path, "registry")}", output, StringComparison.Ordinal);
        Assert.DoesNotContain("warn:", output, StringComparison.Ordinal);
        Assert.DoesNotContain("fail:", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Polly", output, StringComparison.Ordinal);
    }

    /// <summary>Some ordinary traffic, so that what a running registry logs at Information is seen too.</summary>
    private static async Task PushesAndPullsAsync(HttpClient client)
    {
        var name = SharedRegistry.UniqueName("clean");
        var (_, manifest) = await client.PushImageAsync(name, "v1", layers: 1);
        Assert.Equal(manifest, await client.GetByteArrayAsync($"/v2/{name}/manifests/v1"));
    }

    /// <summary>The maintenance grain's reminders and their periods, once <paramref name="expected"/> are registered.</summary>
    internal static async Task<Dictionary<string, TimeSpan>> JobsAsync(IReminderTable table, GrainId grain, int expected)
    {
        Dictionary<string, TimeSpan> rows = [];
        await Poll.UntilAsync(
            async () =>
            {
                rows = (await table.ReadRows(grain)).Reminders.ToDictionary(r => r.ReminderName, r => r.Period);
                return rows.Count >= expected;
            },
            $"{expected} maintenance reminders are registered");
        Assert.Equal(expected, rows.Count);
        return rows;
    }
}
