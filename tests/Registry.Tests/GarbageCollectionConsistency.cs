using Orleans;
using Registry.Grains;
using Registry.Storage;

namespace Registry.Tests;

/// <summary>
/// The consistency check of the garbage collection harnesses (docs/garbage-collection.md,
/// "Proofs"), shared by embedded mode (the host's own grains and driver) and cluster mode (an
/// Orleans client through the replicas' gateways and the Azure driver over the cluster's container).
/// </summary>
internal static class GarbageCollectionConsistency
{
    /// <summary>
    /// Every repository's references (links, manifests, what the manifests name) are stored, and no
    /// unreferenced blob last modified before <paramref name="collectableBefore"/> (what the last
    /// collection could take: its start minus the grace period) is left.
    /// </summary>
    /// <returns>How many digests are referenced and how many blobs are stored.</returns>
    public static async Task<(int Referenced, int Stored)> AssertAsync(IGrainFactory grains, IBlobStore store, DateTimeOffset collectableBefore)
    {
        var referenced = new HashSet<string>(StringComparer.Ordinal);
        var page = await RegistryCatalog.ListAsync(grains, null, 10_000);
        Assert.False(page.More, "the check reads one catalog page of 10,000");
        foreach (var name in page.Names)
        {
            var references = await grains.GetGrain<IRepositoryGrain>(name).GetReferences();
            Assert.Empty(references.UnrecordedManifests);
            referenced.UnionWith(references.Digests);
        }

        foreach (var digest in referenced)
        {
            Assert.True(await store.GetSizeAsync(digest, CancellationToken.None) is not null, $"{digest} is referenced but not stored");
        }

        var stored = 0;
        await foreach (var blob in store.ListBlobsAsync(CancellationToken.None))
        {
            stored++;
            Assert.False(blob.LastModified < collectableBefore && !referenced.Contains(blob.Digest), $"{blob.Digest} (last modified {blob.LastModified:O}) is unreferenced and was older than the grace period at the last collection");
        }

        return (referenced.Count, stored);
    }
}
