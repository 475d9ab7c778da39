using System.Net;
using System.Text;
using Microsoft.Extensions.Options;
using Registry.Grains;
using Registry.Silo;
using static Registry.Tests.GarbageCollectionTests;

namespace Registry.Tests;

/// <summary>
/// The race harness with the policies on (docs/garbage-collection.md#policies), embedded mode:
/// pushes that move tags race collections that prune and sweep as if the grace period had passed
/// since the round began, so every untagged manifest, every link no manifest names yet and every
/// unreferenced blob of earlier rounds is fair game while the round's push runs.
/// </summary>
[Trait("Category", TestCategories.Slow)]
public sealed class GarbageCollectionPolicyRaceTests
{
    [Fact]
    public async Task PruningRacingPushesNeverLosesATaggedImageAndLeavesAConsistentRegistry()
    {
        await using var host = await RegistryHost.StartAsync(null, "--Registry:GarbageCollection:RemoveUntagged=true", "--Registry:GarbageCollection:RemoveUnusedLinks=true");
        var client = host.Client;
        var collector = host.Service<IGarbageCollector>();
        var gracePeriod = host.Service<IOptions<RegistryOptions>>().Value.GarbageCollection.GracePeriod;
        var latest = new Dictionary<(string Repository, string Tag), byte[]>();
        var retried = 0;
        const int rounds = 200;
        for (var round = 0; round < rounds; round++)
        {
            var repository = $"gcp/prace{round % 3}";
            var tag = $"t{round % 10}";
            var config = Encoding.UTF8.GetBytes($"{{\"round\":{round},\"n\":\"{Guid.NewGuid():N}\"}}");
            var layer = Oci.RandomBytes(200 + round);
            // As if the grace period had passed since this round began: everything earlier rounds
            // wrote or used is fair game, what this round touches is not, as in real time (a blob
            // touched at its upload's commit is protected by the grace period until its link lands).
            var far = DateTimeOffset.UtcNow + gracePeriod;
            var collection = Task.Run(() => collector.CollectAsync(new GarbageCollectionRun($"prace{round}", false, DateTimeOffset.UtcNow, 1), far, CancellationToken.None));
            var push = Task.Run(async () =>
            {
                var manifest = Oci.ImageManifest(config, [layer]);
                for (var attempt = 0; ; attempt++)
                {
                    if (!await TryPushBlobAsync(client, repository, config) || !await TryPushBlobAsync(client, repository, layer))
                    {
                        Assert.True(attempt < 5, "the blob uploads kept being refused");
                        continue;
                    }

                    using var put = await client.PutManifestAsync(repository, tag, manifest);
                    if (put.StatusCode == HttpStatusCode.Created)
                    {
                        return (manifest, attempt);
                    }

                    // The links were pruned (or the bytes collected) between upload and manifest: upload again.
                    await put.AssertErrorAsync(HttpStatusCode.BadRequest, "MANIFEST_BLOB_UNKNOWN");
                    Assert.True(attempt < 5, "the push kept being refused");
                }
            });
            await Task.WhenAll(collection, push).WithinAsync();
            Assert.Null((await collection).Error);
            var (stored, attempts) = await push;
            retried += attempts;
            latest[(repository, tag)] = stored;
            await AssertPullableAsync(client, repository, tag, stored);
        }

        var final = await collector.CollectAsync(new GarbageCollectionRun("prace-final", false, DateTimeOffset.UtcNow, 1), DateTimeOffset.UtcNow + TimeSpan.FromDays(3), CancellationToken.None);
        Assert.Null(final.Error);
        foreach (var ((repository, tag), manifest) in latest)
        {
            await AssertPullableAsync(client, repository, tag, manifest);
        }

        await AssertConsistentAsync(host);
        Assert.True(retried < rounds, $"{retried} retries in {rounds} rounds");
    }

    /// <summary>
    /// A one-request upload; false when its staging file was swept meanwhile. The collection runs
    /// as if 3 days had passed, so a staging file in use for milliseconds counts as a crash's stray
    /// (in real time it is younger than the grace period and never is); the push uploads again.
    /// </summary>
    private static async Task<bool> TryPushBlobAsync(HttpClient client, string repository, byte[] content)
    {
        using var response = await client.PostAsync($"/v2/{repository}/blobs/uploads/?digest={Oci.Digest(content)}", Oci.Octets(content));
        if (response.StatusCode == HttpStatusCode.Created)
        {
            return true;
        }

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        return false;
    }
}
