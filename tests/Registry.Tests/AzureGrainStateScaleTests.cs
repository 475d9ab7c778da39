using System.Diagnostics;
using Azure.Storage.Blobs;
using Registry.Grains;
using Xunit.Abstractions;

namespace Registry.Tests;

/// <summary>
/// Cluster-mode grain state lives in Azure Blob Storage, so a repository may outgrow the 1 MiB limit
/// of a table entity: 50,000 tags survive a restart of the whole cluster.
/// </summary>
[Trait("Category", TestCategories.Azurite)]
public sealed class AzureGrainStateScaleTests(AzuriteFixture azurite, ITestOutputHelper output) : IClassFixture<AzuriteFixture>
{
    private const int TagCount = 50_000;

    [Fact]
    public async Task RepositoryWithFiftyThousandTagsSurvivesARestart()
    {
        var cluster = AzuriteFixture.UniqueName("s");
        var name = SharedRegistry.UniqueName("scale");
        var tags = Enumerable.Range(0, TagCount).Select(i => $"v{i:D5}").ToArray();
        var manifest = GrainFacts.Manifest();
        var acknowledged = new long[TagCount];

        var clock = Stopwatch.StartNew();
        await using (var first = await AzureTestCluster.StartAsync(azurite.ConnectionString, cluster, silos: 1))
        {
            output.WriteLine($"silo up in {clock.Elapsed}");
            var repository = first.Client.GetGrain<IRepositoryGrain>(name);
            string[] blobs = [Oci.Digest(Oci.RandomBytes(64)), Oci.Digest(Oci.RandomBytes(64))];
            foreach (var blob in blobs)
            {
                await repository.LinkBlob(blob, 64);
            }

            // Alone this takes ~30 s; beside the rest of the suite on 2 cores (Azurite included) it
            // has taken over 90 s, so it gets a bound of its own. It is a scale test, not a speed test.
            clock.Restart();
            using var ct = Bounded.Token(TimeSpan.FromMinutes(4));
            await Parallel.ForEachAsync(
                Enumerable.Range(0, TagCount),
                new ParallelOptions { MaxDegreeOfParallelism = 2000, CancellationToken = ct.Token },
                async (i, _) =>
                {
                    var result = await repository.PutManifest(new ManifestPush(manifest, blobs, [], tags[i]));
                    Assert.Equal(ManifestPushOutcome.Accepted, result.Outcome);
                    acknowledged[i] = result.Generation;
                });
            output.WriteLine($"{TagCount} tags pushed in {clock.Elapsed}");
        }

        // The state is one blob, well beyond what one table entity may hold.
        var state = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient(cluster + "-grains");
        var sizes = new List<long>();
        using var listing = Bounded.Token();
        await foreach (var item in state.GetBlobsAsync(cancellationToken: listing.Token))
        {
            sizes.Add(item.Properties.ContentLength ?? 0);
        }

        Assert.Contains(sizes, size => size > 2 * 1024 * 1024);
        output.WriteLine($"state blobs: {string.Join(", ", sizes)} bytes");

        clock.Restart();
        await using var second = await AzureTestCluster.StartAsync(azurite.ConnectionString, cluster, silos: 1);
        var reloaded = second.Client.GetGrain<IRepositoryGrain>(name);
        var listed = new List<string>();
        string? last = null;
        TagsListing? page;
        do
        {
            page = await reloaded.ListTags(last, 10_000);
            Assert.NotNull(page);
            var names = page.Tags;
            listed.AddRange(names);
            last = names[^1];
        }
        while (page.NextLast is not null);
        output.WriteLine($"restarted and listed in {clock.Elapsed}");

        Assert.Equal(tags, listed);
        var generations = new HashSet<long>();
        foreach (var i in new[] { 0, 1, TagCount / 2, TagCount - 1 }.Concat(Enumerable.Range(0, 200).Select(_ => Random.Shared.Next(TagCount))).Distinct())
        {
            Assert.Equal(manifest, await reloaded.ResolveTag(tags[i]));
            var entry = Assert.Single(await reloaded.GetTagHistory(tags[i]));
            Assert.Equal(manifest.Digest, entry.Digest);
            Assert.InRange(entry.Generation, 1, acknowledged[i]);
            Assert.True(generations.Add(entry.Generation), $"generation {entry.Generation} given twice");
        }

        // Writable after the restart, with the generation counter where it was.
        var moved = GrainFacts.Manifest();
        var move = await reloaded.PutManifest(new ManifestPush(moved, [], [], tags[7]));
        Assert.Equal(ManifestPushOutcome.Accepted, move.Outcome);
        Assert.Equal(TagCount + 1, move.Generation);
        Assert.Equal(moved, await reloaded.ResolveTag(tags[7]));
        Assert.Equal([moved.Digest, manifest.Digest], (await reloaded.GetTagHistory(tags[7])).Select(h => h.Digest));
        Assert.Null(await reloaded.ResolveTag("v50000"));
    }
}
