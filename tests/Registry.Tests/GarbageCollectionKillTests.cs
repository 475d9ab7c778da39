using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Azure.Storage.Blobs;
using Registry.Storage;
using Xunit.Abstractions;
using static Registry.Tests.GarbageCollectionTests;

namespace Registry.Tests;

/// <summary>
/// A collection killed with <c>kill -9</c> in cluster mode (Azure driver, Azurite): the next
/// replica's start resumes it, it finishes, and what is referenced is whole
/// (docs/garbage-collection.md, "Crash safety").
/// </summary>
[Trait("Category", TestCategories.Process)]
[Trait("Category", TestCategories.Azurite)]
public sealed class GarbageCollectionKillTests(ITestOutputHelper output)
{
    private const int Garbage = 1500;
    private const int Strays = 20;

    [Fact]
    public async Task ACollectionKilledMidSweepIsResumedByTheNextReplicaAndLeavesOnlyWhatIsReferenced()
    {
        // A one-second grace period (the upload expiry must not exceed it), on demand only, and the
        // collector's deletions logged so the test sees the sweep under way. Unpaced: 1,500 Azure
        // deletions at the default duty cycle outlast the wait on a loaded machine; the embedded
        // kill test covers a paced run.
        await using var cluster = await RegistryCluster.StartAsync(
            "gckill",
            1,
            ("Registry__Uploads__Expiry", "00:00:01"),
            ("Registry__GarbageCollection__GracePeriod", "00:00:01"),
            ("Registry__GarbageCollection__Interval", "00:00:00"),
            ("Registry__GarbageCollection__DutyCycle", "1"),
            ("Logging__LogLevel__Registry.Silo.GarbageCollector", "Information"));
        var first = cluster.Replicas[0];
        var kept = await first.Client.PushImageAsync("gckill/kept", "v1");

        // Garbage straight into the cluster's container: blobs no repository names, and strays
        // (committed uploads whose address a crashed collection already deleted).
        var container = new BlobServiceClient(cluster.Azurite.ConnectionString).GetBlobContainerClient(cluster.ClusterId);
        var store = new AzureBlobStore(container);
        var garbage = new List<string>();
        await Parallel.ForEachAsync(Enumerable.Range(0, Garbage), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (_, ct) =>
        {
            var content = Oci.RandomBytes(64);
            await store.PutAsync(Oci.Digest(content), content, ct);
            lock (garbage)
            {
                garbage.Add(Oci.Digest(content));
            }
        });
        var strays = new List<string>();
        for (var i = 0; i < Strays; i++)
        {
            var content = Oci.RandomBytes(500);
            var id = Guid.NewGuid().ToString("N");
            await store.CreateUploadAsync(id, DateTimeOffset.UtcNow, CancellationToken.None);
            await using (var writer = await store.OpenUploadWriterAsync(id, 0, CancellationToken.None))
            {
                await writer.WriteAsync(content);
            }

            await store.CommitUploadAsync(id, content.Length, Oci.Digest(content), CancellationToken.None);
            await container.GetBlobClient(StorageLayout.BlobPath(Oci.Digest(content))).DeleteAsync();
            strays.Add(StorageLayout.UploadDataPath(id));
        }

        // Start a collection and kill the replica once the sweep has deleted some, not all.
        var start = GarbageCollectionKill.StartCollection(first.Client);
        var deletedBefore = await GarbageCollectionKill.KillMidSweepAsync(first, 100, output);
        output.WriteLine($"killed after {deletedBefore} deletions logged of {Garbage}");
        Assert.InRange(deletedBefore, 100, Garbage - 1);
        await start.WithinAsync();

        // The replica restarts in place (the same silo endpoint, as a restarted process or
        // container on its host): Orleans declares the killed generation dead as the new one joins.
        // On another endpoint the new silo would first wait for the dead one's membership row to go
        // stale (docs/operations.md, "A replica restarted elsewhere").
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var second = await cluster.StartReplicaAsync(siloPort: first.SiloPort);
        output.WriteLine($"the restarted replica served after {clock.Elapsed.TotalSeconds:F1} s");
        var status = await GarbageCollectionKill.FinishedStatusAsync(second.Client);
        Assert.Equal("Succeeded", status.GetProperty("phase").GetString());
        Assert.Equal(2, status.GetProperty("attempt").GetInt32());

        // Every garbage blob and stray is gone; the kept image is whole, and no address points at nothing.
        var listed = new Dictionary<string, ListedBlob>(StringComparer.Ordinal);
        await foreach (var blob in store.ListBlobsAsync(CancellationToken.None))
        {
            listed[blob.Digest] = blob;
        }

        Assert.DoesNotContain(garbage, listed.ContainsKey);
        foreach (var stray in strays)
        {
            Assert.False(await container.GetBlobClient(stray).ExistsAsync(), stray);
        }

        foreach (var digest in listed.Keys)
        {
            await using var stream = await store.OpenReadAsync(digest, 0, CancellationToken.None);
            Assert.NotNull(stream);
        }

        await AssertPullableAsync(second.Client, "gckill/kept", "v1", kept.Manifest);
    }
}
