using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Registry.Api.Extensions;
using Registry.Grains;
using static Registry.Tests.GarbageCollectionTests;

namespace Registry.Tests;

/// <summary>
/// The policies Registry:GarbageCollection:RemoveUntagged and RemoveUnusedLinks
/// (docs/garbage-collection.md), embedded mode. Ages are the grain's own records (last push,
/// last use), so the collection is run as if it were past the grace period: the collector is
/// called with a "now" beyond it.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class GarbageCollectionPolicyTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromHours(48);
    private static readonly string[] Policies = ["--Registry:GarbageCollection:RemoveUntagged=true", "--Registry:GarbageCollection:RemoveUnusedLinks=true"];

    [Fact]
    public async Task ALinkUsedAgainIsRecordedWithinAQuarterOfAShortGracePeriod()
    {
        // With a grace period under an hour, a re-use an hour apart would not be recorded and the
        // link could be pruned seconds after a client used it.
        await using var host = await RegistryHost.StartAsync(null, null, [.. Policies, "--Registry:Uploads:Expiry=00:00:30", "--Registry:GarbageCollection:GracePeriod=00:02:00"]);
        var resolution = host.Service<Microsoft.Extensions.Options.IOptions<RepositoryGrainOptions>>().Value.LinkUseResolution;
        Assert.Equal(TimeSpan.FromSeconds(30), resolution);
        Assert.Equal(RepositoryPruning.DefaultUseResolution, RepositoryPruning.UseResolutionFor(Grace));

        var state = new RepositoryState();
        var t0 = DateTimeOffset.UnixEpoch;
        var digest = "sha256:" + new string('a', 64);
        state.Blobs[digest] = 1;
        RepositoryPruning.Linked(state, digest, t0);
        Assert.False(RepositoryPruning.Relinked(state, digest, t0 + TimeSpan.FromSeconds(29), resolution));
        Assert.True(RepositoryPruning.Relinked(state, digest, t0 + TimeSpan.FromSeconds(31), resolution));
        Assert.Equal(t0 + TimeSpan.FromSeconds(31), state.LinksUsedAt[digest]);
    }

    [Fact]
    public async Task UntaggedManifestsAndUnusedLinksGoExceptWhatATagAnIndexOrASubjectKeeps()
    {
        var recorder = new RecordingSubscriber();
        await using var host = await RegistryHost.StartAsync(null, b => b.Services.AddRegistryEventSubscriber(recorder), Policies);
        var client = host.Client;
        const string repo = "gcp/app";

        // Kept: a tagged image, its referrer (untagged), an index's untagged children.
        var tagged = await client.PushImageAsync(repo, "v1");
        var signature = await PushAsync(client, repo, null, subject: (tagged.Digest, tagged.Manifest.Length));
        var amd = await PushAsync(client, repo, null);
        var arm = await PushAsync(client, repo, null);
        var index = Oci.Json(new { schemaVersion = 2, mediaType = Oci.IndexType, manifests = new[] { Entry(amd), Entry(arm) } });
        using (var put = await client.PutManifestAsync(repo, "multi", index, Oci.IndexType))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        // Removed: a manifest whose tag moved on, an untagged image with its referrer, a lone unused link.
        var moved = await client.PushImageAsync(repo, "v2");
        var current = await client.PushImageAsync(repo, "v2");
        var orphan = await PushAsync(client, repo, null);
        var orphanSignature = await PushAsync(client, repo, null, subject: (orphan.Digest, orphan.Manifest.Length));
        var lone = await client.PushBlobAsync(repo, Oci.RandomBytes(900));

        var removedManifests = new[] { moved.Digest, orphan.Digest, orphanSignature.Digest }.Order(StringComparer.Ordinal).ToArray();
        var removedLinks = BlobsOf(moved.Manifest).Concat(BlobsOf(orphan.Manifest)).Concat(BlobsOf(orphanSignature.Manifest)).Append(lone).Distinct().ToArray();

        // A dry run reports and changes nothing.
        var dry = await CollectPastGraceAsync(host, dryRun: true);
        Assert.Equal(removedManifests.Length, dry.ManifestsRemoved);
        Assert.Equal(removedLinks.Length, dry.LinksRemoved);
        Assert.Equal(removedLinks.Length + removedManifests.Length, dry.Digests.Intersect(removedLinks.Concat(removedManifests)).Count());
        foreach (var digest in removedManifests)
        {
            using var get = await client.GetAsync($"/v2/{repo}/manifests/{digest}");
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        }

        var run = await CollectPastGraceAsync(host, dryRun: false);
        Assert.Null(run.Error);
        Assert.Equal(removedManifests.Length, run.ManifestsRemoved);
        Assert.Equal(removedLinks.Length, run.LinksRemoved);

        foreach (var digest in removedManifests)
        {
            using var get = await client.GetAsync($"/v2/{repo}/manifests/{digest}");
            Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
            Assert.False(File.Exists(DataDirectory.BlobPath(host.DataDirectory, digest)));
        }

        foreach (var digest in removedLinks)
        {
            using var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/{repo}/blobs/{digest}"));
            Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
            Assert.False(File.Exists(DataDirectory.BlobPath(host.DataDirectory, digest)));
        }

        await AssertPullableAsync(client, repo, "v1", tagged.Manifest);
        await AssertPullableAsync(client, repo, "v2", current.Manifest);
        foreach (var kept in new[] { signature, amd, arm })
        {
            using var get = await client.GetAsync($"/v2/{repo}/manifests/{kept.Digest}");
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        }

        using (var get = await client.GetAsync($"/v2/{repo}/manifests/multi"))
        {
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        }

        // Each removal is a delete event of the repository.
        foreach (var digest in removedManifests.Concat(removedLinks))
        {
            await recorder.WaitForAsync(e => e.Action == RegistryEvent.Delete && e.Repository == repo && e.Target.Digest == digest);
        }

        // Nothing is left to prune.
        var again = await CollectPastGraceAsync(host, dryRun: false);
        Assert.Equal(0, again.ManifestsRemoved + again.LinksRemoved);
        await AssertConsistentAsync(host);
    }

    [Fact]
    public async Task WithinTheGracePeriodOrWithThePoliciesOffNothingIsPruned()
    {
        await using (var host = await RegistryHost.StartAsync(null, Policies))
        {
            await host.Client.PushImageAsync("gcp/young", "v1");
            await host.Client.PushImageAsync("gcp/young", "v1");
            await host.Client.PushBlobAsync("gcp/young", Oci.RandomBytes(500));

            var run = await host.Service<IGarbageCollector>().CollectAsync(Run(false), DateTimeOffset.UtcNow, CancellationToken.None);
            Assert.Equal(0, run.ManifestsRemoved + run.LinksRemoved);
        }

        await using (var host = await RegistryHost.StartAsync())
        {
            var moved = await host.Client.PushImageAsync("gcp/off", "v1");
            await host.Client.PushImageAsync("gcp/off", "v1");
            var run = await CollectPastGraceAsync(host, dryRun: false);
            Assert.Equal(0, run.ManifestsRemoved + run.LinksRemoved);
            using var get = await host.Client.GetAsync($"/v2/gcp/off/manifests/{moved.Digest}");
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        }
    }

    [Fact]
    public async Task ALinkUsedAgainOrNamedByANewManifestIsNotUnused()
    {
        await using var host = await RegistryHost.StartAsync(null, Policies);
        var grains = host.Service<IGrainFactory>();
        var repository = grains.GetGrain<IRepositoryGrain>("gcp/used");
        var layer = Oci.RandomBytes(700);
        var digest = await host.Client.PushBlobAsync("gcp/used", layer);

        // Cut off just before now: the link was used after it.
        var plan = await repository.Prune(new PruneRequest(true, true, DateTimeOffset.UtcNow - TimeSpan.FromMinutes(1), DryRun: true));
        Assert.Empty(plan.Links);

        // Past it, unused; a manifest naming it makes it needed whatever its age.
        plan = await repository.Prune(new PruneRequest(true, true, DateTimeOffset.UtcNow + TimeSpan.FromHours(1), DryRun: true));
        Assert.Equal([digest], plan.Links);
        var config = Encoding.UTF8.GetBytes("{\"n\":\"" + Guid.NewGuid().ToString("N") + "\"}");
        await host.Client.PushBlobAsync("gcp/used", config);
        using (var put = await host.Client.PutManifestAsync("gcp/used", "v1", Oci.ImageManifest(config, [layer])))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        plan = await repository.Prune(new PruneRequest(true, true, DateTimeOffset.UtcNow + TimeSpan.FromHours(1), DryRun: false));
        Assert.Empty(plan.Links);
        Assert.Empty(plan.Manifests);
        Assert.Contains(digest, plan.References.Digests);
    }

    private static Task<GarbageCollectionReport> CollectPastGraceAsync(RegistryHost host, bool dryRun)
        => host.Service<IGarbageCollector>().CollectAsync(Run(dryRun), DateTimeOffset.UtcNow + Grace + TimeSpan.FromHours(1), CancellationToken.None).WithinAsync();

    private static GarbageCollectionRun Run(bool dryRun) => new(Guid.NewGuid().ToString("N"), dryRun, DateTimeOffset.UtcNow, 1);

    private static object Entry((string Digest, byte[] Manifest) m) => new { mediaType = Oci.ManifestType, digest = m.Digest, size = m.Manifest.Length };

    /// <summary>Pushes a fresh image (config and one layer) by digest, or by <paramref name="tag"/>; optionally a referrer of <paramref name="subject"/>.</summary>
    private static async Task<(string Digest, byte[] Manifest)> PushAsync(HttpClient client, string repository, string? tag, (string Digest, int Size)? subject = null)
    {
        var config = Encoding.UTF8.GetBytes("{\"n\":\"" + Guid.NewGuid().ToString("N") + "\"}");
        var layer = Oci.RandomBytes(300);
        await client.PushBlobAsync(repository, config);
        await client.PushBlobAsync(repository, layer);
        var manifest = Oci.ImageManifest(config, [layer], subject is null ? null : "application/vnd.example.signature", subject is { } s ? (s.Digest, s.Size, Oci.ManifestType) : null);
        var digest = Oci.Digest(manifest);
        using var put = await client.PutManifestAsync(repository, tag ?? digest, manifest);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        return (digest, manifest);
    }
}
