using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Registry.Storage;
using Xunit.Abstractions;
using static Registry.Tests.GarbageCollectionTests;

namespace Registry.Tests;

/// <summary>
/// A collection with both policies on, killed with <c>kill -9</c> in embedded mode (filesystem
/// driver, its own process): the restart resumes it, and afterwards exactly what is referenced is
/// stored (docs/garbage-collection.md, "Crash safety").
/// </summary>
[Trait("Category", TestCategories.Process)]
public sealed class GarbageCollectionEmbeddedKillTests(ITestOutputHelper output)
{
    // Few enough deletions and prunes that their log lines fit what RegistryProcess keeps (200,000 characters).
    private const int UnusedLinks = 200;
    private const int Unlinked = 900;

    private static readonly (string Key, string Value)[] Settings =
    [
        // A one-second grace period (the upload expiry must not exceed it), on demand only, both
        // policies on, and the collector's deletions logged so the test sees the sweep under way.
        ("Registry__Uploads__Expiry", "00:00:01"),
        ("Registry__GarbageCollection__GracePeriod", "00:00:01"),
        ("Registry__GarbageCollection__Interval", "00:00:00"),
        ("Registry__GarbageCollection__RemoveUntagged", "true"),
        ("Registry__GarbageCollection__RemoveUnusedLinks", "true"),
        ("Logging__LogLevel__Registry.Silo.GarbageCollector", "Information"),
    ];

    [Fact]
    public async Task ACollectionWithPoliciesKilledMidSweepIsResumedAtTheRestartAndLeavesExactlyWhatIsReferenced()
    {
        using var data = new TempDirectory();
        var blobs = Path.Combine(data.Path, "registry");
        (string Digest, byte[] Manifest) kept, untagged;
        var unused = new List<string>();
        int deletedBefore;
        await using (var first = await EmbeddedProcess.StartAsync(data.Path, null, Settings))
        {
            var client = first.Client;

            // Kept: a tagged image. Pruned: the manifest its tag moved away from (with its own
            // blobs), and links no manifest names; then swept, as the pruning left them unreferenced.
            untagged = await client.PushImageAsync("gcek/app", "v1");
            kept = await client.PushImageAsync("gcek/app", "v1");
            await Parallel.ForEachAsync(Enumerable.Range(0, UnusedLinks), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
            {
                var digest = await client.PushBlobAsync($"gcek/unused{i % 4}", Oci.RandomBytes(64));
                lock (unused)
                {
                    unused.Add(digest);
                }
            });

            // Garbage unlinked through /v2: no prune, only the sweep.
            await Parallel.ForEachAsync(Enumerable.Range(0, Unlinked), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
            {
                var digest = await client.PushBlobAsync("gcek/unlinked", Oci.RandomBytes(64));
                using var unlink = await client.DeleteAsync($"/v2/gcek/unlinked/blobs/{digest}");
                Assert.Equal(HttpStatusCode.Accepted, unlink.StatusCode);
                lock (unused)
                {
                    unused.Add(digest);
                }
            });

            // Everything must be older than the one-second grace period when the collection starts
            // (a deliberate time condition, not a wait for another party).
            await Task.Delay(TimeSpan.FromSeconds(2));

            // Start a collection and kill the process once the sweep has deleted some, not all.
            var start = GarbageCollectionKill.StartCollection(client);
            deletedBefore = await GarbageCollectionKill.KillMidSweepAsync(first, 100, output);
            await start.WithinAsync();
        }

        var gone = unused.Concat(BlobsOf(untagged.Manifest)).Append(untagged.Digest).Except(BlobsOf(kept.Manifest)).ToHashSet(StringComparer.Ordinal);
        output.WriteLine($"killed after {deletedBefore} deletions logged of {gone.Count}");
        Assert.InRange(deletedBefore, 100, gone.Count - 1);

        await using var second = await EmbeddedProcess.StartAsync(data.Path, null, Settings);
        var status = await GarbageCollectionKill.FinishedStatusAsync(second.Client);
        Assert.Equal("Succeeded", status.GetProperty("phase").GetString());
        Assert.Equal(2, status.GetProperty("attempt").GetInt32());

        // Stored is exactly the kept image: its manifest, config and layers.
        var stored = Directory.EnumerateFiles(Path.Combine(blobs, "blobs"), "*", SearchOption.AllDirectories)
            .Select(f => "sha256:" + Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(BlobsOf(kept.Manifest).Append(kept.Digest).Order(StringComparer.Ordinal).ToArray(), stored);
        Assert.All(gone, d => Assert.False(File.Exists(DataDirectory.BlobPath(blobs, d)), d));
        await AssertPullableAsync(second.Client, "gcek/app", "v1", kept.Manifest);
        using (var pruned = await second.Client.GetAsync($"/v2/gcek/app/manifests/{untagged.Digest}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, pruned.StatusCode);
        }

        // The repositories left with nothing are gone from the catalog.
        var catalog = await second.Client.GetFromJsonAsync<JsonElement>("/v2/_catalog");
        Assert.Equal(["gcek/app"], catalog.GetProperty("repositories").EnumerateArray().Select(e => e.GetString()!).ToArray());
    }
}
