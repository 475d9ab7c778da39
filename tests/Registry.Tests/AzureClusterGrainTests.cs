using Registry.Grains;
using Xunit.Abstractions;

namespace Registry.Tests;

/// <summary>
/// Grains spread over several silos (TestingHost, the registry's cluster composition, Azurite): one
/// activation per repository serializes writes from every silo, an upload session survives its silo,
/// and the catalog sees repositories created anywhere.
/// </summary>
[Trait("Category", TestCategories.Azurite)]
public sealed class AzureClusterGrainTests(AzuriteFixture azurite, ITestOutputHelper output) : IClassFixture<AzuriteFixture>
{
    [Fact]
    public async Task ConcurrentPushesToOneTagFromEverySiloAreEachInTheHistoryOnce()
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        await using var cluster = await AzureTestCluster.StartAsync(azurite.ConnectionString, AzuriteFixture.UniqueName("c"), silos: 3);
        output.WriteLine($"3 silos up in {started.Elapsed}");
        var silos = cluster.Silos.ToArray();
        Assert.Equal(3, silos.Length);
        var name = SharedRegistry.UniqueName("cluster");
        var blobs = await LinkBlobsAsync(cluster.FactoryOf(silos[0]).GetGrain<IRepositoryGrain>(name));

        const int perSilo = 40;
        var pushes = silos.SelectMany((silo, s) => Enumerable.Range(0, perSilo).Select(i =>
        {
            var grain = cluster.FactoryOf(silo).GetGrain<IRepositoryGrain>(name);
            var manifest = GrainFacts.Manifest();
            return Task.Run(async () => (manifest.Digest, Result: await grain.PutManifest(new ManifestPush(manifest, blobs, [], "latest"))));
        })).ToArray();
        var acknowledged = await Task.WhenAll(pushes).WithinAsync();

        Assert.All(acknowledged, a => Assert.Equal(ManifestPushOutcome.Accepted, a.Result.Outcome));
        var repository = cluster.Client.GetGrain<IRepositoryGrain>(name);
        await AssertHistoryAsync(repository, acknowledged);

        // The same, read back from Azure by a fresh activation.
        await cluster.Cluster.DeactivateAsync(repository).WithinAsync();
        Assert.Null(cluster.HostOf(repository));
        await AssertHistoryAsync(cluster.FactoryOf(silos[2]).GetGrain<IRepositoryGrain>(name), acknowledged);
    }

    private static async Task AssertHistoryAsync(IRepositoryGrain repository, (string Digest, ManifestPushResult Result)[] acknowledged)
    {
        var history = await repository.GetTagHistory("latest");
        Assert.Equal(acknowledged.Length, history.Count);
        Assert.Equal(acknowledged.Select(a => a.Digest).Order(StringComparer.Ordinal), history.Select(h => h.Digest).Order(StringComparer.Ordinal));
        for (var i = 1; i < history.Count; i++)
        {
            Assert.True(history[i - 1].Generation > history[i].Generation, $"history is not newest first at {i}");
        }

        var generations = history.ToDictionary(h => h.Digest, h => h.Generation);
        Assert.All(acknowledged, a => Assert.True(a.Result.Generation >= generations[a.Digest], "acknowledged before its write"));
        Assert.Equal(history[0].Digest, (await repository.ResolveTag("latest"))?.Digest);
    }

    [Fact]
    public async Task UploadSessionComesBackOnASurvivorWithItsOffsetAndAFreeLease()
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        await using var cluster = await AzureTestCluster.StartAsync(azurite.ConnectionString, AzuriteFixture.UniqueName("c"), silos: 2);
        output.WriteLine($"2 silos up in {started.Elapsed}");
        using var timeout = Bounded.Token();
        var ct = timeout.Token;
        var name = SharedRegistry.UniqueName("cluster");
        var id = Guid.NewGuid().ToString("N");
        var content = Oci.RandomBytes(3000);
        var session = cluster.Client.GetGrain<IUploadSessionGrain>(id);

        // The byte path stages, the session keeps the facts (as BlobService does).
        await cluster.Store.CreateUploadAsync(id, DateTimeOffset.UtcNow, ct);
        await session.Start(name);

        // Leases are taken by a process that stays alive (the survivor), as a writing replica would be.
        var host = cluster.HostOf(session);
        Assert.NotNull(host);
        var survivor = Assert.Single(cluster.Silos, s => !s.SiloAddress.Equals(host.SiloAddress));
        var lessee = survivor.SiloAddress;
        Assert.Equal(new ChunkLease(ChunkGrant.Granted, 0), await session.BeginChunk(name, 0, lessee));
        await using (var writer = await cluster.Store.OpenUploadWriterAsync(id, 0, ct))
        {
            await writer.WriteAsync(content.AsMemory(0, 1000), ct);
        }

        Assert.Equal(1000, (await session.EndChunk(0, 1000))?.Offset);
        Assert.Equal(new ChunkLease(ChunkGrant.Granted, 1000), await session.BeginChunk(name, null, lessee));
        Assert.Equal(new ChunkLease(ChunkGrant.Busy, 1000), await session.BeginChunk(name, 1000, lessee));

        // The silo holding the session (and its lease) goes away.
        await cluster.Cluster.StopSiloAsync(host).WithinAsync();

        var again = cluster.FactoryOf(survivor).GetGrain<IUploadSessionGrain>(id);
        Assert.Equal(1000, (await again.GetStatus(name).AsTask().WithinAsync())?.Offset);
        Assert.Equal(survivor.SiloAddress, cluster.HostOf(again)?.SiloAddress);
        Assert.Equal(new ChunkLease(ChunkGrant.Granted, 1000), await again.BeginChunk(name, 1000, lessee));
        Assert.Equal(new ChunkLease(ChunkGrant.Busy, 1000), await again.BeginChunk(name, 1000, lessee));

        // And the upload finishes there with the bytes staged before.
        await using (var writer = await cluster.Store.OpenUploadWriterAsync(id, 1000, ct))
        {
            await writer.WriteAsync(content.AsMemory(1000), ct);
        }

        Assert.Equal(content.Length, (await again.EndChunk(1000, content.Length - 1000))?.Offset);
        await cluster.Store.CommitUploadAsync(id, content.Length, Oci.Digest(content), ct);
        await again.Finish();
        Assert.Equal(content.Length, await cluster.Store.GetSizeAsync(Oci.Digest(content), ct));
        Assert.Null(await again.GetStatus(name));
    }

    /// <summary>
    /// 64 catalog registrations, then 64 new repositories, at once, spread over 3 silos: each is
    /// registered in its catalog shard before it is acknowledged, the shards live on several
    /// silos, and every silo lists all of them in exact order, in pages that cross shard
    /// boundaries (4 names a page).
    /// </summary>
    [Fact]
    public async Task SixtyFourNewRepositoriesThroughThreeSilosAreAllListedWithinTheDeadline()
    {
        await using var cluster = await AzureTestCluster.StartAsync(azurite.ConnectionString, AzuriteFixture.UniqueName("c"), silos: 3);
        var prefix = "catalog" + Guid.NewGuid().ToString("N")[..8];
        var silos = cluster.Silos.ToArray();
        var names = Enumerable.Range(0, 64).Select(i => $"{prefix}/s{i % 3}/r{i:D2}").ToArray();

        // Registrations alone, 64 at once through the 3 silos: within the 10 s in which the single
        // catalog grain registered only 58-64 of 64 (one state write each, one at a time).
        var registered = Enumerable.Range(0, 64).Select(i => $"{prefix}/direct/r{i:D2}").ToArray();
        var expected = names.Concat(registered).Order(StringComparer.Ordinal).ToArray();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await Task.WhenAll(registered.Select((name, i) => Task.Run(() => RegistryCatalog.AddAsync(cluster.FactoryOf(silos[i % 3]), name)))).WaitAsync(TimeSpan.FromSeconds(10));
        output.WriteLine($"64 registrations in {watch.ElapsedMilliseconds} ms");

        // Whole repositories (activation, state, events, registration): 16 s on the 2-core test
        // machine at a load average of 44, hence the generous bound.
        var deadline = TimeSpan.FromSeconds(45);
        watch.Restart();
        await Task.WhenAll(names.Select((name, i) => Task.Run(() => cluster.FactoryOf(silos[i % 3]).GetGrain<IRepositoryGrain>(name).LinkBlob(Oci.Digest(Oci.RandomBytes(32)), 32)))).WaitAsync(deadline);
        var created = watch.Elapsed;
        var listed = await ListAsync(cluster.FactoryOf(silos[0]), 4).WaitAsync(deadline - watch.Elapsed);
        output.WriteLine($"64 repositories created in {created.TotalMilliseconds:F0} ms, listed after {watch.Elapsed.TotalMilliseconds:F0} ms");
        Assert.Equal(expected, listed.Where(n => n.StartsWith(prefix + "/", StringComparison.Ordinal)));

        var hosts = Enumerable.Range(0, RegistryCatalog.ShardCount)
            .Select(s => cluster.HostOf(cluster.Client.GetGrain<ICatalogShardGrain>(s)))
            .OfType<Orleans.TestingHost.SiloHandle>()
            .Select(s => s.SiloAddress)
            .Distinct()
            .Count();
        Assert.True(hosts >= 2, $"the catalog shards are active on {hosts} silo(s)");

        foreach (var silo in silos)
        {
            listed = await ListAsync(cluster.FactoryOf(silo), 4);
            Assert.Equal(expected, listed.Where(n => n.StartsWith(prefix + "/", StringComparison.Ordinal)));
            Assert.Equal(listed.Order(StringComparer.Ordinal), listed);
        }
    }

    /// <summary>The whole catalog, <paramref name="limit"/> names a page, as the API pages it.</summary>
    private static async Task<List<string>> ListAsync(IGrainFactory grains, int limit)
    {
        var listed = new List<string>();
        string? last = null;
        NamePage page;
        do
        {
            page = await RegistryCatalog.ListAsync(grains, last, limit);
            Assert.InRange(page.Names.Count, page.More ? 1 : 0, limit);
            listed.AddRange(page.Names);
            last = page.Names.Count > 0 ? page.Names[^1] : last;
        }
        while (page.More);

        return listed;
    }

    private static async Task<string[]> LinkBlobsAsync(IRepositoryGrain repository)
    {
        string[] blobs = [Oci.Digest(Oci.RandomBytes(64)), Oci.Digest(Oci.RandomBytes(64))];
        foreach (var blob in blobs)
        {
            await repository.LinkBlob(blob, 64);
        }

        return blobs;
    }
}

/// <summary>Descriptors of made-up manifests: grains keep facts, never bytes.</summary>
public static class GrainFacts
{
    public static ManifestDescriptor Manifest()
    {
        var bytes = Oci.RandomBytes(512);
        return new ManifestDescriptor(Oci.Digest(bytes), Oci.ManifestType, bytes.Length, null, null, null, DateTimeOffset.UtcNow);
    }
}
