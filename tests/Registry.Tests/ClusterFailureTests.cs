using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Xunit.Abstractions;

namespace Registry.Tests;

/// <summary>An image pushed over HTTP: where it lives and what it is made of.</summary>
public sealed record PushedImage(string Name, string Tag, string Digest, byte[] Manifest, IReadOnlyList<byte[]> Blobs);

/// <summary>
/// A replica killed with <c>kill -9</c> in the middle of a push sequence: what was acknowledged
/// stays, the survivors take over the repositories whose grains lived on it.
/// </summary>
[Trait("Category", TestCategories.Process)]
[Trait("Category", TestCategories.Azurite)]
public sealed class ClusterKillTests(ITestOutputHelper output)
{
    [Fact]
    public async Task PushesAcknowledgedAroundAHardKillArePullableThroughTheSurvivors()
    {
        const int images = 10;
        const int killBefore = 6;
        await using var cluster = await RegistryCluster.StartAsync("kill", 3);
        var (a, b, c) = (cluster.Replicas[0], cluster.Replicas[1], cluster.Replicas[2]);
        var client = new RoundRobinClient(cluster.Replicas, attemptTimeout: TimeSpan.FromSeconds(40), maxAttempts: 40);
        var pushed = new List<PushedImage>();
        Task<Takeover>? takeover = null;
        var inFlight = new List<InFlightChunk>();
        Task<TimeSpan[]>? retries = null;
        var clock = new Stopwatch();
        for (var i = 0; i < images; i++)
        {
            if (i == killBefore)
            {
                // Uploads in the middle of a chunk that B is writing: sessions opened through A and C,
                // a first chunk through the other survivor, the second chunk's body half sent to B.
                for (var u = 0; u < 4; u++)
                {
                    var (open, first) = u % 2 == 0 ? (a, c) : (c, a);
                    inFlight.Add(await InFlightChunk.StartAsync(cluster, pushed[u].Name, open, first, b));
                }

                Assert.Equal("Active", await cluster.SiloStatusAsync(b.SiloPort));
                b.KillHard();
                clock.Start();
                Assert.True(b.HasExited);
                takeover = WatchTakeoverAsync(cluster, b.SiloPort, pushed.ToArray(), [a, c], clock);

                // The chunks B was writing are retried through the survivors (as clients would,
                // right away) and the uploads complete, while the pushes go on.
                retries = Task.WhenAll(inFlight.Select((upload, u) => upload.RetryAsync(u % 2 == 0 ? [a, c] : [c, a], clock)));
            }

            pushed.Add(await PushAsync(client, SharedRegistry.UniqueName("kill"), "v1"));
            if (i == killBefore)
            {
                output.WriteLine($"first push after the kill acknowledged {clock.Elapsed.TotalSeconds:F1} s after it");
            }
        }

        output.WriteLine($"all {images} pushes acknowledged; {client.Retries} requests retried, the last {clock.Elapsed.TotalSeconds:F1} s after the kill");
        foreach (var failure in client.Failures.Take(10))
        {
            output.WriteLine("  retried: " + failure);
        }

        var retried = await retries!.WithinAsync();
        output.WriteLine($"the {inFlight.Count} chunks in flight on B were taken over {string.Join(", ", retried.Select(t => $"{t.TotalSeconds:F1}"))} s after the kill");

        var seen = await takeover!.WithinAsync();
        output.WriteLine($"membership table: B dead {seen.DeclaredDead.TotalSeconds:F1} s after the kill");
        output.WriteLine($"all {killBefore} repositories pushed before the kill answered through A and C {seen.AllAnswered.TotalSeconds:F1} s after it; {seen.Unavailable.Count} of them did not answer at first (grain or its directory entry on B): {string.Join(", ", seen.Unavailable)}");
        Assert.Equal("Dead", await cluster.SiloStatusAsync(b.SiloPort));

        // While B's grains moved, a survivor said "retry", never "internal error".
        output.WriteLine($"answers other than 200 meanwhile: {string.Join(", ", seen.Refusals)}");
        Assert.All(seen.Refusals, r => Assert.Equal("503 Retry-After=1", r));

        // Everything acknowledged, before and after the kill, is served whole by both survivors.
        foreach (var survivor in new[] { a, c })
        {
            foreach (var image in pushed)
            {
                await AssertServedAsync(survivor.Client, image);
            }

            foreach (var upload in inFlight)
            {
                Assert.Equal(upload.Content, await survivor.Client.GetBlobAsync(upload.Name, upload.Digest));
            }

            var catalog = await survivor.Client.CatalogAsync();
            Assert.Equal(pushed.Select(p => p.Name).Order(StringComparer.Ordinal), catalog.Order(StringComparer.Ordinal));
        }

        // And the survivors keep taking writes to the repositories that existed before the kill
        // (including those whose grains B held).
        foreach (var image in pushed.Take(killBefore))
        {
            var next = await PushAsync(client, image.Name, "v2");
            Assert.Equal(next.Digest, await a.Client.TagDigestAsync(image.Name, "v2"));
            Assert.Equal(["v1", "v2"], await c.Client.ListTagsAsync(image.Name));
        }
    }

    /// <summary>Pushes config, two layers and the manifest, each request retried on another replica when it fails.</summary>
    internal static async Task<PushedImage> PushAsync(RoundRobinClient client, string name, string tag)
    {
        var config = Encoding.UTF8.GetBytes($"{{\"architecture\":\"amd64\",\"os\":\"linux\",\"n\":\"{Guid.NewGuid():N}\"}}");
        byte[][] blobs = [config, Oci.RandomBytes(256 * 1024), Oci.RandomBytes(3000)];
        foreach (var blob in blobs)
        {
            var (response, replica) = await client.SendAsync(() => ClusterHttp.BlobPost(name, blob));
            using (response)
            {
                Assert.True(response.StatusCode == HttpStatusCode.Created, $"blob POST on :{replica.HttpPort} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            }
        }

        var manifest = Oci.ImageManifest(config, blobs.Skip(1));
        var (put, on) = await client.SendAsync(() => ClusterHttp.ManifestPut(name, tag, manifest));
        using (put)
        {
            Assert.True(put.StatusCode == HttpStatusCode.Created, $"manifest PUT on :{on.HttpPort} answered {(int)put.StatusCode}: {await put.Content.ReadAsStringAsync()}");
            Assert.Equal(Oci.Digest(manifest), put.Header("Docker-Content-Digest"));
        }

        return new PushedImage(name, tag, Oci.Digest(manifest), manifest, blobs);
    }

    /// <summary>The tag, the manifest by digest and every blob, byte for byte.</summary>
    internal static async Task AssertServedAsync(HttpClient client, PushedImage image)
    {
        var byTag = await client.GetManifestAsync(image.Name, image.Tag, Oci.ManifestType);
        Assert.Equal(image.Digest, byTag.Digest);
        Assert.Equal(image.Manifest, byTag.Content);
        Assert.Equal(image.Manifest, (await client.GetManifestAsync(image.Name, image.Digest, Oci.ManifestType)).Content);
        foreach (var blob in image.Blobs)
        {
            Assert.Equal(blob, await client.GetBlobAsync(image.Name, Oci.Digest(blob)));
        }
    }

    /// <summary>
    /// A chunked upload whose second chunk is being written by a replica that is about to die: its
    /// session holds that replica's chunk lease, and the first 5 MiB of the chunk are staged.
    /// </summary>
    private sealed class InFlightChunk
    {
        private const int FirstChunk = 1024 * 1024;
        private const int Held = 5 * 1024 * 1024;

        private InFlightChunk(string name, string location, byte[] content, HeldBackContent body, Task<HttpResponseMessage> patch)
        {
            Name = name;
            Location = location;
            Content = content;
            Body = body;
            Patch = patch;
        }

        public string Name { get; }

        public string Location { get; }

        public byte[] Content { get; }

        public string Digest => Oci.Digest(Content);

        private HeldBackContent Body { get; }

        private Task<HttpResponseMessage> Patch { get; }

        public static async Task<InFlightChunk> StartAsync(RegistryCluster cluster, string name, RegistryProcess open, RegistryProcess first, RegistryProcess writer)
        {
            var content = Oci.RandomBytes(FirstChunk + Held + 12345);
            var location = (await UploadSession.StartAsync(open.Client, name)).Location;
            await new UploadSession(first.Client, name, location).PatchOkAsync(content, 0, FirstChunk);
            var body = new HeldBackContent(content.AsSpan(FirstChunk).ToArray(), Held);
            var patch = writer.Client.SendAsync(HttpMethod.Patch, location, body, ("Content-Range", $"{FirstChunk}-{content.Length - 1}"));

            // Ready when the writer has staged a block of the chunk (so it holds the chunk's lease).
            var staged = new BlobContainerClient(cluster.Azurite.ConnectionString, cluster.ClusterId)
                .GetBlockBlobClient($"uploads/{location[(location.LastIndexOf('/') + 1)..]}/data");
            var deadline = Stopwatch.StartNew();
            while ((await staged.GetBlockListAsync(BlockListTypes.Uncommitted)).Value.UncommittedBlocks.Count() == 0)
            {
                Assert.False(patch.IsCompleted, "the PATCH to the replica about to die ended before its body was complete");
                Assert.True(deadline.Elapsed < Bounded.Timeout, "the writer never staged a block of the chunk");

                // A bounded readiness poll.
                await Task.Delay(50);
            }

            return new InFlightChunk(name, location, content, body, patch);
        }

        /// <summary>
        /// Lets the dead writer's request end, then retries the chunk through the survivors in turn
        /// until it is accepted (bounded), and finishes the upload. Returns when the chunk was taken.
        /// </summary>
        public async Task<TimeSpan> RetryAsync(RegistryProcess[] survivors, Stopwatch sinceKill)
        {
            await Task.Yield();
            Body.Release();
            try
            {
                using var lost = await Patch.WithinAsync();
                Assert.NotEqual(HttpStatusCode.Accepted, lost.StatusCode);
            }
            catch (HttpRequestException)
            {
                // The writer died mid-request: this is what the client sees.
            }

            string last = "";
            for (var attempt = 0; sinceKill.Elapsed < TimeSpan.FromSeconds(90); attempt++)
            {
                var session = new UploadSession(survivors[attempt % survivors.Length].Client, Name, Location);
                using var response = await session.PatchAsync(Content, FirstChunk, Content.Length - FirstChunk);
                if (response.StatusCode == HttpStatusCode.Accepted)
                {
                    var taken = sinceKill.Elapsed;
                    Assert.Equal($"0-{Content.Length - 1}", response.Header("Range"));
                    using var put = await new UploadSession(survivors[(attempt + 1) % survivors.Length].Client, Name, Location).PutAsync(Digest);
                    Assert.Equal(HttpStatusCode.Created, put.StatusCode);
                    return taken;
                }

                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";

                // Retry with a pause, as a client does; bounded by the deadline above.
                await Task.Delay(500);
            }

            throw new Xunit.Sdk.XunitException($"the chunk B was writing to {Location} was still refused 90 s after the kill: {last}");
        }
    }

    private sealed record Takeover(TimeSpan DeclaredDead, TimeSpan AllAnswered, IReadOnlyCollection<string> Unavailable, IReadOnlyCollection<string> Refusals);

    /// <summary>
    /// From the kill on, polls (bounded) the membership table until the killed silo is Dead and the
    /// repositories pushed before the kill until each answers its tag list through every survivor.
    /// </summary>
    private static async Task<Takeover> WatchTakeoverAsync(RegistryCluster cluster, int siloPort, PushedImage[] before, RegistryProcess[] survivors, Stopwatch clock)
    {
        await Task.Yield();
        var deadline = TimeSpan.FromSeconds(150);
        TimeSpan? dead = null, answered = null;
        var unavailable = new ConcurrentDictionary<string, bool>();
        var refusals = new ConcurrentDictionary<string, bool>();
        var pending = before.SelectMany(i => survivors.Select(s => (i.Name, s))).ToList();
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(40) };
        while (dead is null || answered is null)
        {
            if (clock.Elapsed > deadline)
            {
                throw new Xunit.Sdk.XunitException($"after {deadline}: dead={dead}, still not answering: {string.Join(", ", pending.Select(p => $"{p.Name} on :{p.s.HttpPort}"))}\n{cluster.Output()}");
            }

            if (dead is null && await cluster.SiloStatusAsync(siloPort) == "Dead")
            {
                dead = clock.Elapsed;
            }

            var results = await Task.WhenAll(pending.Select(async p =>
            {
                try
                {
                    using var response = await probe.GetAsync(new Uri(p.s.BaseAddress, $"/v2/{p.Name}/tags/list"));
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        refusals[$"{(int)response.StatusCode} Retry-After={response.Headers.RetryAfter?.ToString() ?? "none"}"] = true;
                    }

                    return (p, Ok: response.StatusCode == HttpStatusCode.OK);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    return (p, Ok: false);
                }
            }));
            foreach (var (p, ok) in results)
            {
                if (ok)
                {
                    pending.Remove(p);
                }
                else
                {
                    unavailable[p.Name] = true;
                }
            }

            if (answered is null && pending.Count == 0)
            {
                answered = clock.Elapsed;
            }

            // A bounded readiness poll of the takeover.
            await Task.Delay(250);
        }

        return new Takeover(dead.Value, answered.Value, unavailable.Keys.ToArray(), refusals.Keys.ToArray());
    }
}

/// <summary>The whole cluster stopped and started again on the same storage: nothing is lost.</summary>
[Trait("Category", TestCategories.Process)]
[Trait("Category", TestCategories.Azurite)]
public sealed class ClusterRestartTests(ITestOutputHelper output)
{
    [Fact]
    public async Task EverythingSurvivesAFullClusterRestart()
    {
        await using var cluster = await RegistryCluster.StartAsync("restart", 3);
        var before = cluster.Replicas.ToArray();
        var client = new RoundRobinClient(before, attemptTimeout: TimeSpan.FromSeconds(40), maxAttempts: 1);
        var pushed = new List<PushedImage>();
        for (var i = 0; i < 3; i++)
        {
            var name = SharedRegistry.UniqueName("restart");
            pushed.Add(await ClusterKillTests.PushAsync(client, name, "v1"));
            pushed.Add(await ClusterKillTests.PushAsync(client, name, $"v2-{i}"));
        }

        // A tag moved to another manifest, and a tag deleted: the restart must keep the latest state.
        var moved = await ClusterKillTests.PushAsync(client, pushed[0].Name, "v1");
        Assert.NotEqual(pushed[0].Digest, moved.Digest);
        pushed[0] = moved;
        using (var delete = await before[2].Client.DeleteAsync($"/v2/{pushed[2].Name}/manifests/v2-1"))
        {
            Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        }

        pushed.RemoveAt(3);
        var names = pushed.Select(p => p.Name).Distinct().Order(StringComparer.Ordinal).ToArray();
        var tags = names.ToDictionary(n => n, n => pushed.Where(p => p.Name == n).Select(p => p.Tag).Order(StringComparer.Ordinal).ToArray());

        var clock = Stopwatch.StartNew();
        await cluster.StopAllAsync().WithinAsync();
        Assert.All(before, p => Assert.True(p.HasExited));
        output.WriteLine($"3 replicas stopped in {clock.Elapsed.TotalSeconds:F1} s");
        clock.Restart();
        var after = await cluster.StartReplicasAsync(3);
        output.WriteLine($"3 new replicas serving in {clock.Elapsed.TotalSeconds:F1} s");
        Assert.Empty(after.Select(p => p.HttpPort).Intersect(before.Select(p => p.HttpPort)));

        for (var r = 0; r < after.Count; r++)
        {
            var replica = after[r];
            Assert.Equal(names, (await replica.Client.CatalogAsync()).ToArray());
            foreach (var name in names)
            {
                Assert.Equal(tags[name], await replica.Client.ListTagsAsync(name));
            }

            // Every tag resolves through every replica; each image is read whole (manifest by tag
            // and digest, every blob byte for byte) through one of them in turn.
            for (var i = 0; i < pushed.Count; i++)
            {
                Assert.Equal(pushed[i].Digest, await replica.Client.TagDigestAsync(pushed[i].Name, pushed[i].Tag));
                if (i % after.Count == r)
                {
                    await ClusterKillTests.AssertServedAsync(replica.Client, pushed[i]);
                }
            }

            using var deleted = await replica.Client.GetAsync($"/v2/{pushed[2].Name}/manifests/v2-1");
            await deleted.AssertErrorAsync(HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        }

        // The restarted cluster keeps taking writes on the old state.
        var again = await ClusterKillTests.PushAsync(new RoundRobinClient(after, TimeSpan.FromSeconds(40), 1), names[0], "v3");
        foreach (var replica in after)
        {
            Assert.Equal(again.Digest, await replica.Client.TagDigestAsync(names[0], "v3"));
            Assert.Contains("v3", await replica.Client.ListTagsAsync(names[0]));
        }
    }
}
