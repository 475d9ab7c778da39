using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Registry.Api.Extensions;
using Registry.Grains;
using Registry.Storage;
using static Registry.Tests.GarbageCollectionTests;

namespace Registry.Tests;

/// <summary>
/// What a collection does beyond blobs (docs/garbage-collection.md): crash leftovers, repositories
/// left empty, and its events. Embedded mode on the filesystem driver; files are aged by their
/// modification time.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class GarbageCollectionAdditionsTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromHours(48);

    [Fact]
    public async Task StrayTemporaryFilesOlderThanTheGracePeriodAreReclaimedAndTheDryRunKeepsThem()
    {
        await using var host = await RegistryHost.StartAsync();
        var tmp = Path.Combine(host.DataDirectory, "tmp");
        var old = Enumerable.Range(0, 3).Select(i => Path.Combine(tmp, Guid.NewGuid().ToString("N"))).ToArray();
        var young = Path.Combine(tmp, Guid.NewGuid().ToString("N"));
        foreach (var (path, i) in old.Select((p, i) => (p, i)))
        {
            await File.WriteAllBytesAsync(path, new byte[100 * (i + 1)]);
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow - Grace - TimeSpan.FromHours(1));
        }

        await File.WriteAllBytesAsync(young, new byte[50]);
        var image = await host.Client.PushImageAsync("gcx/strays", "v1");

        var dry = (await CollectAsync(host.Client, dryRun: true)).GetProperty("status");
        Assert.Equal(3, dry.GetProperty("straysReclaimed").GetInt64());
        Assert.Equal(600, dry.GetProperty("strayBytesReclaimed").GetInt64());
        Assert.All(old, p => Assert.True(File.Exists(p)));

        var run = (await CollectAsync(host.Client, dryRun: false)).GetProperty("status");
        Assert.Equal(3, run.GetProperty("straysReclaimed").GetInt64());
        Assert.Equal(600, run.GetProperty("strayBytesReclaimed").GetInt64());
        Assert.All(old, p => Assert.False(File.Exists(p)));
        Assert.True(File.Exists(young));
        await AssertPullableAsync(host.Client, "gcx/strays", "v1", image.Manifest);
        Assert.Equal(0, (await CollectAsync(host.Client, dryRun: false)).GetProperty("status").GetProperty("straysReclaimed").GetInt64());
    }

    /// <summary>
    /// An upload abandoned mid-way (POST and PATCH, never PUT) is reclaimed by a collection once it
    /// is older than the upload expiry: its session ends and its staged bytes go, counted in the
    /// report and the metrics. A younger upload is untouched and finishes; a dry run only counts.
    /// The collector runs as if a day had passed (the sessions' start times come from the clock).
    /// </summary>
    [Fact]
    public async Task AnAbandonedUploadsStagingIsReclaimedByACollectionOnceExpiredAndALiveUploadFinishes()
    {
        await using var host = await RegistryHost.StartAsync();
        var name = SharedRegistry.UniqueName("gcx/uploads");
        var abandonedBytes = Oci.RandomBytes(40_000);
        var abandoned = await UploadSession.StartAsync(host.Client, name);
        await abandoned.PatchOkAsync(abandonedBytes, 0, 25_000);
        await abandoned.PatchOkAsync(abandonedBytes, 25_000, 15_000);
        var staging = Path.Combine(host.DataDirectory, "uploads", abandoned.Id);
        Assert.True(Directory.Exists(staging));

        // Now, nothing is expired: the status says so, and the upload goes on.
        var now = (await CollectAsync(host.Client, dryRun: false)).GetProperty("status");
        Assert.Equal(0, now.GetProperty("uploadsReclaimed").GetInt64());
        Assert.Equal(0, now.GetProperty("uploadBytesReclaimed").GetInt64());
        Assert.True(Directory.Exists(staging));

        var collector = host.Service<IGarbageCollector>();
        var dayLater = DateTimeOffset.UtcNow + TimeSpan.FromHours(25);

        // Started after the abandoned one and a day younger than the collection's clock below.
        var content = Oci.RandomBytes(6000);
        var live = await UploadSession.StartAsync(host.Client, name);
        await live.PatchOkAsync(content, 0, 2000);
        var liveStart = (await host.Service<IGrainFactory>().GetGrain<IUploadSessionGrain>(live.Id).GetStatus(name))!.StartedAt;
        var abandonedStart = (await host.Service<IGrainFactory>().GetGrain<IUploadSessionGrain>(abandoned.Id).GetStatus(name))!.StartedAt;
        var at = abandonedStart + TimeSpan.FromHours(24) + ((liveStart - abandonedStart) / 2);

        var dry = await collector.CollectAsync(new GarbageCollectionRun("uploads-dry", true, DateTimeOffset.UtcNow, 1), at, CancellationToken.None);
        Assert.Equal(1, dry.UploadsReclaimed);
        Assert.Equal(40_000, dry.UploadBytesReclaimed);
        Assert.True(Directory.Exists(staging));
        using (var still = await abandoned.GetAsync())
        {
            Assert.Equal(HttpStatusCode.NoContent, still.StatusCode);
        }

        var run = await collector.CollectAsync(new GarbageCollectionRun("uploads-run", false, DateTimeOffset.UtcNow, 1), at, CancellationToken.None);
        Assert.Equal(1, run.UploadsReclaimed);
        Assert.Equal(40_000, run.UploadBytesReclaimed);
        Assert.False(Directory.Exists(staging));
        using (var gone = await abandoned.GetAsync())
        {
            await gone.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
        }

        using (var put = await abandoned.PutAsync(Oci.Digest(abandonedBytes)))
        {
            await put.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
        }

        // The younger upload was untouched and finishes into its blob.
        await live.PatchOkAsync(content, 2000, 4000);
        using (var put = await live.PutAsync(Oci.Digest(content)))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        Assert.Equal(content, await host.Client.GetByteArrayAsync($"/v2/{name}/blobs/{Oci.Digest(content)}"));
        Assert.Equal(0, (await collector.CollectAsync(new GarbageCollectionRun("uploads-again", false, DateTimeOffset.UtcNow, 1), dayLater, CancellationToken.None)).UploadsReclaimed);
        Assert.Empty(DataDirectory.Entries(Path.Combine(host.DataDirectory, "uploads")));

        // The metrics count the real run's bytes, not the dry run's.
        await ScrapeUntilAsync(host, text => MetricSum(text, "registry_gc_upload_bytes_reclaimed") == 40_000 && MetricSum(text, "registry_gc_uploads_reclaimed") == 1);
    }

    [Fact]
    public async Task ARepositoryLeftEmptyLeavesTheCatalogAndComesBackWhenPushedAgain()
    {
        var recorder = new RecordingSubscriber();
        await using var host = await RegistryHost.StartAsync(null, b => b.Services.AddRegistryEventSubscriber(recorder));
        var client = host.Client;
        var name = "gcx/empty" + Guid.NewGuid().ToString("N")[..8];
        var image = await client.PushImageAsync(name, "v1");
        var kept = await client.PushImageAsync("gcx/kept", "v1");
        using (var delete = await client.DeleteAsync($"/v2/{name}/manifests/{image.Digest}"))
        {
            Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        }

        foreach (var digest in BlobsOf(image.Manifest))
        {
            using var unlink = await client.DeleteAsync($"/v2/{name}/blobs/{digest}");
            Assert.Equal(HttpStatusCode.Accepted, unlink.StatusCode);
        }

        Assert.Contains(name, await CatalogAsync(client));

        // A dry run says so and changes nothing.
        var dry = (await CollectAsync(client, dryRun: true)).GetProperty("status");
        Assert.Equal(1, dry.GetProperty("repositoriesRemoved").GetInt64());
        Assert.Contains(name, await CatalogAsync(client));

        var run = (await CollectAsync(client, dryRun: false)).GetProperty("status");
        Assert.Equal(1, run.GetProperty("repositoriesRemoved").GetInt64());
        var catalog = await CatalogAsync(client);
        Assert.DoesNotContain(name, catalog);
        Assert.Contains("gcx/kept", catalog);
        var removed = await recorder.WaitForAsync(e => e.Action == RegistryEvent.RepositoryRemoved && e.Repository == name);
        Assert.True(removed.FromOutbox);
        using (var tags = await client.GetAsync($"/v2/{name}/tags/list"))
        {
            Assert.Equal(HttpStatusCode.NotFound, tags.StatusCode);
        }

        // Removed again: nothing to do, no second event.
        Assert.True(await host.Service<IGrainFactory>().GetGrain<IRepositoryGrain>(name).RemoveIfEmpty());
        Assert.Equal(0, (await CollectAsync(client, dryRun: false)).GetProperty("status").GetProperty("repositoriesRemoved").GetInt64());

        // Pushed again, it is listed again, and a collection keeps it.
        var again = await client.PushImageAsync(name, "v2");
        Assert.Contains(name, await CatalogAsync(client));
        Assert.Equal(0, (await CollectAsync(client, dryRun: false)).GetProperty("status").GetProperty("repositoriesRemoved").GetInt64());
        Assert.Contains(name, await CatalogAsync(client));
        await AssertPullableAsync(client, name, "v2", again.Manifest);
        await AssertPullableAsync(client, "gcx/kept", "v1", kept.Manifest);
        Assert.Single(recorder.Events, e => e.Action == RegistryEvent.RepositoryRemoved && e.Repository == name);
        await AssertConsistentAsync(host);
    }

    /// <summary>
    /// Rounds of a blob push racing the empty repository's removal: whichever lands first, the
    /// repository is listed exactly when it holds something, and what it holds is served.
    /// </summary>
    [Fact]
    public async Task ARemovalRacingAPushNeverLeavesARepositoryWithContentUnlisted()
    {
        await using var host = await RegistryHost.StartAsync();
        var client = host.Client;
        var grains = host.Service<IGrainFactory>();
        var name = "gcx/race" + Guid.NewGuid().ToString("N")[..8];
        var listedAfterPush = 0;
        for (var round = 0; round < 40; round++)
        {
            var blob = Oci.RandomBytes(100 + round);
            var push = client.PushBlobAsync(name, blob);
            var removal = grains.GetGrain<IRepositoryGrain>(name).RemoveIfEmpty();
            await Task.WhenAll(push, removal).WithinAsync();

            var references = await grains.GetGrain<IRepositoryGrain>(name).GetReferences();
            Assert.Contains(Oci.Digest(blob), references.Digests);
            Assert.Contains(name, await CatalogAsync(client));
            listedAfterPush++;
            Assert.Equal(blob, await client.GetByteArrayAsync($"/v2/{name}/blobs/{Oci.Digest(blob)}"));

            using var unlink = await client.DeleteAsync($"/v2/{name}/blobs/{Oci.Digest(blob)}");
            Assert.Equal(HttpStatusCode.Accepted, unlink.StatusCode);
            Assert.True(await grains.GetGrain<IRepositoryGrain>(name).RemoveIfEmpty());
            Assert.DoesNotContain(name, await CatalogAsync(client));
        }

        Assert.Equal(40, listedAfterPush);
    }

    [Fact]
    public async Task EveryDeletionIsABlobCollectedEventUpToTheBoundAndTheRunEndsWithGcFinished()
    {
        var recorder = new RecordingSubscriber();
        await using var host = await RegistryHost.StartAsync(null, b => b.Services.AddRegistryEventSubscriber(recorder));
        var store = host.Service<IBlobStore>();

        // Garbage written straight into storage (no repository names it), more than the bound.
        var garbage = new List<string>();
        for (var i = 0; i < 1010; i++)
        {
            var content = Oci.RandomBytes(40);
            var digest = Oci.Digest(content);
            await store.PutAsync(digest, content, CancellationToken.None);
            Age(host, digest);
            garbage.Add(digest);
        }

        await using var watch = await WatchStream.OpenAsync(host.Client, $"namespace={RegistryStreams.CollectionsKey}");
        var run = await CollectAsync(host.Client, dryRun: false);
        var id = run.GetProperty("metadata").GetProperty("name").GetString()!;
        Assert.Equal(1010, run.GetProperty("status").GetProperty("blobsReclaimed").GetInt64());

        var finished = await recorder.WaitForAsync(e => e.Action == RegistryEvent.CollectionFinished && e.Collection!.Run == id);
        Assert.False(finished.FromOutbox);
        Assert.Equal(1010, finished.Collection!.BlobsReclaimed);
        Assert.Equal(10, finished.Collection.BlobEventsOmitted);
        var collected = recorder.Events.Where(e => e.Action == RegistryEvent.BlobCollected && e.Collection!.Run == id).ToList();
        Assert.Equal(1000, collected.Count);
        Assert.All(collected, e => Assert.Contains(e.Target.Digest!, garbage));
        Assert.Equal(1000, collected.Select(e => e.Target.Digest).Distinct().Count());

        // The admin watch of _gc shows them, in the envelope's shape with the figures.
        var watched = await watch.ReadUntilAsync(e => e.Event == RegistryEvent.CollectionFinished || e.Json.GetProperty("action").GetString() == RegistryEvent.CollectionFinished);
        var last = watched[^1].Json;
        Assert.Equal(id, last.GetProperty("collection").GetProperty("run").GetString());
        Assert.Equal(1010, last.GetProperty("collection").GetProperty("blobsReclaimed").GetInt64());
        Assert.Equal(1000, watched.Count(e => e.Json.GetProperty("action").GetString() == RegistryEvent.BlobCollected));

        // A namespace's watch never shows them.
        var client = host.Client;
        var ns = "gcw" + Guid.NewGuid().ToString("N")[..8];
        await using var nsWatch = await WatchStream.OpenAsync(client, $"namespace={ns}");
        await CollectAsync(client, dryRun: false);
        await client.PushImageAsync($"{ns}/app", "v1");
        var nsEvents = await nsWatch.ReadUntilAsync(e => e.Tag == "v1");
        Assert.All(nsEvents, e => Assert.DoesNotContain("\"collection\"", e.Data, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ADryRunPublishesOnlyItsGcFinished()
    {
        var recorder = new RecordingSubscriber();
        await using var host = await RegistryHost.StartAsync(null, b => b.Services.AddRegistryEventSubscriber(recorder));
        var store = host.Service<IBlobStore>();
        var content = Oci.RandomBytes(40);
        await store.PutAsync(Oci.Digest(content), content, CancellationToken.None);
        Age(host, Oci.Digest(content));

        var run = await CollectAsync(host.Client, dryRun: true);
        var id = run.GetProperty("metadata").GetProperty("name").GetString()!;

        var finished = await recorder.WaitForAsync(e => e.Action == RegistryEvent.CollectionFinished && e.Collection!.Run == id);
        Assert.True(finished.Collection!.DryRun);
        Assert.Equal(1, finished.Collection.BlobsReclaimed);
        Assert.DoesNotContain(recorder.Events, e => e.Action == RegistryEvent.BlobCollected && e.Collection!.Run == id);
        Assert.NotNull(await store.GetSizeAsync(Oci.Digest(content), CancellationToken.None));
    }

    private static async Task<List<string>> CatalogAsync(HttpClient client)
    {
        var body = await client.GetFromJsonAsync<JsonElement>("/v2/_catalog?n=10000");
        return [.. body.GetProperty("repositories").EnumerateArray().Select(e => e.GetString()!)];
    }

    /// <summary>Scrapes <c>/metrics</c> until <paramref name="condition"/> holds (a scrape is cached for 300 ms).</summary>
    private static async Task ScrapeUntilAsync(RegistryHost host, Func<string, bool> condition)
    {
        using var cts = Bounded.Token();
        while (true)
        {
            var text = await host.Client.GetStringAsync("/metrics", cts.Token);
            if (condition(text))
            {
                return;
            }

            Assert.False(cts.IsCancellationRequested, "metrics never met the condition:\n" + text);
            await Task.Delay(100, CancellationToken.None);
        }
    }

    /// <summary>The sum of the samples of the metric family whose name starts with <paramref name="prefix"/>.</summary>
    private static double MetricSum(string text, string prefix)
        => text.Split('\n')
            .Where(line => line.StartsWith(prefix, StringComparison.Ordinal))
            .Select(line => double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture))
            .Sum();
}
