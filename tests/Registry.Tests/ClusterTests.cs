using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Xunit.Abstractions;

namespace Registry.Tests;

/// <summary>
/// Three replicas (A, B, C: separate OS processes, cluster mode) share one Azurite: what is pushed
/// through one is served by all, an upload may hop between them chunk by chunk, and concurrent
/// writes to one tag through all three are serialized.
/// </summary>
[Trait("Category", TestCategories.Process)]
[Trait("Category", TestCategories.Azurite)]
[Trait("Category", TestCategories.Skopeo)]
public sealed class ClusterTests(ThreeReplicaCluster cluster, ITestOutputHelper output) : IClassFixture<ThreeReplicaCluster>, IDisposable
{
    private const int MiB = 1024 * 1024;
    private readonly string _work = Directory.CreateTempSubdirectory("cluster-e2e-").FullName;

    private RegistryProcess A => cluster.A;

    private RegistryProcess B => cluster.B;

    private RegistryProcess C => cluster.C;

    public void Dispose() => Skopeo.TryDelete(_work);

    [Fact]
    public async Task SkopeoPushThroughOneReplicaPullsIdenticallyThroughTheOthers()
    {
        output.WriteLine($"cluster of 3 started in {cluster.StartTime.TotalSeconds:F1} s");
        var name = SharedRegistry.UniqueName("cluster");
        var source = OciLayout.Create(Dir("src"));
        var image = source.WriteImage(layers: 4);
        source.Tag(image.Manifest, "v1");

        await Skopeo.PushAsync($"oci:{source.Root}:v1", $"docker://{A.Authority}/{name}:v1", "--preserve-digests");

        foreach (var (replica, label) in new[] { (B, "b"), (C, "c") })
        {
            var destination = Dir("pull-" + label);
            await Skopeo.PullAsync($"docker://{replica.Authority}/{name}:v1", $"oci:{destination}:v1");
            var pulled = OciLayout.Open(destination);
            var descriptor = pulled.Resolve("v1");
            Assert.Equal(image.Manifest.Digest, descriptor.Digest);
            Assert.Equal(Oci.ManifestType, descriptor.MediaType);
            Assert.Equal(source.Closure(image.Manifest.Digest).Order(), pulled.Closure(descriptor.Digest).Order());
            Assert.Equal(6, pulled.VerifyBlobs());
            Assert.Equal(source.ReadBlob(image.Manifest.Digest), pulled.ReadBlob(descriptor.Digest));
            for (var i = 0; i < image.Layers.Count; i++)
            {
                Assert.Equal(image.DiffIds[i], OciLayout.ReadLayer(pulled.ReadBlob(image.Layers[i].Digest)).DiffId);
            }
        }

        // Pulled by digest through C as well, and every replica lists the tag.
        var pinned = Dir("pinned");
        await Skopeo.PullAsync($"docker://{C.Authority}/{name}@{image.Manifest.Digest}", $"oci:{pinned}:pinned");
        Assert.Equal(image.Manifest.Digest, OciLayout.Open(pinned).Resolve("pinned").Digest);
        foreach (var replica in cluster.All)
        {
            Assert.Equal(["v1"], await replica.Client.ListTagsAsync(name));
        }
    }

    [Fact]
    public async Task ChunkedUploadHoppingBetweenReplicasCommitsTheExactBytes()
    {
        var name = SharedRegistry.UniqueName("cluster");

        // Chunks that straddle the 4 MiB staging blocks, so each replica must continue a block list
        // another one committed, at an offset that is not block-aligned.
        var content = Oci.RandomBytes((5 * MiB) + (3 * MiB) + 7 + (6 * MiB) + 11);
        int[] bounds = [0, 5 * MiB, (8 * MiB) + 7, content.Length];
        var digest = Oci.Digest(content);

        var location = await StartUploadAsync(A, name);
        RegistryProcess[] chunkOn = [B, C, A];
        for (var i = 0; i < 3; i++)
        {
            await Session(chunkOn[i], name, location).PatchOkAsync(content, bounds[i], bounds[i + 1] - bounds[i]);

            // The session's state is the same seen from any replica.
            using var status = await Session(cluster.All[(i + 1) % 3], name, location).GetAsync();
            Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
            Assert.Equal($"0-{bounds[i + 1] - 1}", status.Header("Range"));
        }

        using (var put = await Session(B, name, location).PutAsync(digest))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
            Assert.Equal(digest, put.Header("Docker-Content-Digest"));
            Assert.Equal($"/v2/{name}/blobs/{digest}", put.Header("Location"));
        }

        Assert.Equal(content, await C.Client.GetBlobAsync(name, digest));
        Assert.Equal(content.Length, await A.Client.HeadBlobAsync(name, digest));
        using (var gone = await Session(A, name, location).GetAsync())
        {
            await gone.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
        }
    }

    [Fact]
    public async Task WrongDigestOnFinishThroughAnotherReplicaLeavesNothingVisible()
    {
        var name = SharedRegistry.UniqueName("cluster");
        var content = Oci.RandomBytes((3 * MiB) + 123);
        var actual = Oci.Digest(content);
        var claimed = Oci.Digest(Oci.RandomBytes(64));

        var location = await StartUploadAsync(B, name);
        await Session(C, name, location).PatchOkAsync(content, 0, 2 * MiB);
        await Session(A, name, location).PatchOkAsync(content, 2 * MiB, content.Length - (2 * MiB));
        using (var put = await Session(B, name, location).PutAsync(claimed))
        {
            await put.AssertErrorAsync(HttpStatusCode.BadRequest, "DIGEST_INVALID");
        }

        foreach (var replica in cluster.All)
        {
            foreach (var digest in new[] { claimed, actual })
            {
                using var get = await replica.Client.GetAsync($"/v2/{name}/blobs/{digest}");
                await get.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UNKNOWN");
            }

            using var session = await Session(replica, name, location).GetAsync();
            await session.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
        }

        // Not even in storage: a mount from anywhere finds nothing to mount and opens a session instead.
        using var mount = await C.Client.PostAsync($"/v2/{SharedRegistry.UniqueName("cluster")}/blobs/uploads/?mount={actual}", null);
        Assert.Equal(HttpStatusCode.Accepted, mount.StatusCode);
    }

    /// <summary>
    /// Not a pass/fail check of speed: prints what a chunk costs when the previous chunk was written
    /// by another replica (which rebuilds the running SHA-256 from the staged bytes) against the same
    /// replica (which keeps it in memory). Asserts only that both uploads commit the right bytes.
    /// </summary>
    [Fact]
    public async Task CrossReplicaHashRebuildCost()
    {
        const int chunk = 8 * MiB;
        const int chunks = 8;
        var name = SharedRegistry.UniqueName("cluster");
        var same = Oci.RandomBytes(chunk * chunks);
        var hop = Oci.RandomBytes(chunk * chunks);
        var sameLocation = await StartUploadAsync(A, name);
        var hopLocation = await StartUploadAsync(A, name);
        var sameTimes = new double[chunks + 1];
        var hopTimes = new double[chunks + 1];

        // Interleaved so that both uploads see the same machine load; the hopping upload writes each
        // chunk through the replica after the one that wrote the previous chunk.
        for (var i = 0; i < chunks; i++)
        {
            sameTimes[i] = await TimeAsync(() => Session(A, name, sameLocation).PatchOkAsync(same, i * chunk, chunk));
            hopTimes[i] = await TimeAsync(() => Session(cluster.All[(i + 1) % 3], name, hopLocation).PatchOkAsync(hop, i * chunk, chunk));
        }

        sameTimes[chunks] = await TimeAsync(() => FinishAsync(A, name, sameLocation, Oci.Digest(same)));
        hopTimes[chunks] = await TimeAsync(() => FinishAsync(cluster.All[(chunks + 1) % 3], name, hopLocation, Oci.Digest(hop)));

        output.WriteLine($"64 MiB in 8 MiB chunks; ms per request (same replica | other replica: rebuilds from N*8 MiB staged)");
        for (var i = 0; i <= chunks; i++)
        {
            var label = i < chunks ? $"PATCH {i + 1} (after {i * 8,2} MiB)" : "PUT ?digest (64 MiB)   ";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{label}  {sameTimes[i],7:F0} | {hopTimes[i],7:F0}"));
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"total                   {sameTimes.Sum(),7:F0} | {hopTimes.Sum(),7:F0}"));
        Assert.Equal(same, await B.Client.GetBlobAsync(name, Oci.Digest(same)));
        Assert.Equal(hop, await C.Client.GetBlobAsync(name, Oci.Digest(hop)));
    }

    [Fact]
    public async Task TagUpdatesInRoundsThroughAllReplicasAreSerialized()
    {
        const int rounds = 20;
        var name = SharedRegistry.UniqueName("cluster");
        var (config, layer) = await PushBaseBlobsAsync(name);
        var acknowledged = new List<string>();
        for (var round = 0; round < rounds; round++)
        {
            var manifests = cluster.All.Select((_, i) => Manifest(config, layer, $"r{round}-{i}")).ToArray();
            var digests = manifests.Select(Oci.Digest).ToArray();
            var results = await Task.WhenAll(cluster.All.Select((replica, i) => PutAsync(replica, name, "latest", manifests[i]))).WithinAsync();
            for (var i = 0; i < 3; i++)
            {
                Assert.True(results[i].Status == HttpStatusCode.Created, $"round {round}: PUT through replica {i} answered {(int)results[i].Status}");
                Assert.Equal(digests[i], results[i].Digest);
            }

            acknowledged.AddRange(digests);

            // Every write of the round is acknowledged: the tag is one of them, the same through every replica.
            var seen = await Task.WhenAll(cluster.All.Select(r => r.Client.TagDigestAsync(name, "latest")));
            Assert.Contains(seen[0], digests);
            Assert.All(seen, s => Assert.Equal(seen[0], s));
        }

        await AssertAllServedByDigestAsync(name, acknowledged);
    }

    [Fact]
    public async Task ConcurrentTagUpdatesThroughAllReplicasAgreeAndTheNextWriteIsVisibleEverywhere()
    {
        const int count = 60;
        var name = SharedRegistry.UniqueName("cluster");
        var (config, layer) = await PushBaseBlobsAsync(name);
        var manifests = Enumerable.Range(0, count).Select(i => Manifest(config, layer, $"c{i}")).ToArray();
        var digests = manifests.Select(Oci.Digest).ToArray();
        Assert.Equal(count, digests.Distinct().Count());

        using var gate = new SemaphoreSlim(9);
        var puts = manifests.Select(async (manifest, i) =>
        {
            await gate.WaitAsync();
            try
            {
                return await PutAsync(cluster.All[i % 3], name, "latest", manifest);
            }
            finally
            {
                gate.Release();
            }
        }).ToArray();
        var results = await Task.WhenAll(puts).WithinAsync();
        for (var i = 0; i < count; i++)
        {
            Assert.True(results[i].Status == HttpStatusCode.Created, $"PUT {i} answered {(int)results[i].Status}");
            Assert.Equal(digests[i], results[i].Digest);
        }

        var seen = await Task.WhenAll(cluster.All.Select(r => r.Client.TagDigestAsync(name, "latest")));
        Assert.Contains(seen[0], digests);
        Assert.All(seen, s => Assert.Equal(seen[0], s));
        await AssertAllServedByDigestAsync(name, digests);

        // Once the concurrent writes are done, one more write is what every replica resolves at once.
        for (var i = 0; i < 3; i++)
        {
            var next = Manifest(config, layer, $"after-{i}");
            var result = await PutAsync(cluster.All[i], name, "latest", next);
            Assert.Equal(HttpStatusCode.Created, result.Status);
            foreach (var replica in cluster.All)
            {
                Assert.Equal(Oci.Digest(next), await replica.Client.TagDigestAsync(name, "latest"));
            }
        }

        foreach (var replica in cluster.All)
        {
            Assert.Equal(["latest"], await replica.Client.ListTagsAsync(name));
        }
    }

    private static Task<double> TimeAsync(Func<Task> action) => TimeAsync(async () =>
    {
        await action();
        return 0;
    });

    private static async Task<double> TimeAsync<T>(Func<Task<T>> action)
    {
        var clock = Stopwatch.StartNew();
        await action();
        return clock.Elapsed.TotalMilliseconds;
    }

    private static async Task FinishAsync(RegistryProcess replica, string name, string location, string digest)
    {
        using var put = await Session(replica, name, location).PutAsync(digest);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
    }

    private static UploadSession Session(RegistryProcess replica, string name, string location) => new(replica.Client, name, location);

    private static async Task<string> StartUploadAsync(RegistryProcess replica, string name)
        => (await UploadSession.StartAsync(replica.Client, name)).Location;

    private async Task<(byte[] Config, byte[] Layer)> PushBaseBlobsAsync(string name)
    {
        var config = Encoding.UTF8.GetBytes("{\"architecture\":\"amd64\",\"os\":\"linux\"}");
        var layer = Oci.RandomBytes(4096);
        await A.Client.PushBlobAsync(name, config);
        await B.Client.PushBlobAsync(name, layer);
        return (config, layer);
    }

    private static byte[] Manifest(byte[] config, byte[] layer, string label)
        => Oci.ImageManifest(config, [layer], annotations: new Dictionary<string, string> { ["n"] = label });

    private static async Task<(HttpStatusCode Status, string? Digest)> PutAsync(RegistryProcess replica, string name, string tag, byte[] manifest)
    {
        await Task.Yield();
        using var response = await replica.Client.PutManifestAsync(name, tag, manifest);
        return (response.StatusCode, response.Headers.TryGetValues("Docker-Content-Digest", out var d) ? d.Single() : null);
    }

    private async Task AssertAllServedByDigestAsync(string name, IReadOnlyList<string> digests)
    {
        for (var i = 0; i < digests.Count; i++)
        {
            var served = await cluster.All[i % 3].Client.GetManifestAsync(name, digests[i], Oci.ManifestType);
            Assert.Equal(digests[i], served.Digest);
        }
    }

    private string Dir(string label) => Path.Combine(_work, label + "-" + Guid.NewGuid().ToString("N")[..8]);
}
