using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>Concurrent pushes: every acknowledged write is kept, nothing is stored twice, nothing leaks.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ConcurrencyTests
{
    [Fact]
    public async Task ConcurrentManifestPutsToOneTagAreAllRecordedInOrder()
    {
        const int count = 50;
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("race");
        var config = Encoding.UTF8.GetBytes("{\"architecture\":\"amd64\",\"os\":\"linux\"}");
        var layer = Oci.RandomBytes(4096);
        await host.Client.PushBlobAsync(name, config);
        await host.Client.PushBlobAsync(name, layer);
        var manifests = Enumerable.Range(0, count)
            .Select(i => Oci.ImageManifest(config, [layer], annotations: new Dictionary<string, string> { ["n"] = i.ToString(System.Globalization.CultureInfo.InvariantCulture) }))
            .ToArray();
        var digests = manifests.Select(Oci.Digest).ToArray();
        Assert.Equal(count, digests.Distinct().Count());

        var puts = manifests.Select(async manifest =>
        {
            await Task.Yield();
            using var response = await host.Client.PutManifestAsync(name, "latest", manifest);
            return (response.StatusCode, Digest: response.Headers.TryGetValues("Docker-Content-Digest", out var d) ? d.Single() : null);
        }).ToArray();
        var results = await Task.WhenAll(puts).WithinAsync();

        for (var i = 0; i < count; i++)
        {
            Assert.Equal(HttpStatusCode.Created, results[i].StatusCode);
            Assert.Equal(digests[i], results[i].Digest);
        }

        var history = await host.Services.GetRequiredService<IGrainFactory>().GetGrain<IRepositoryGrain>(name).GetTagHistory("latest");
        Assert.Equal(count, history.Count);
        Assert.Equal(digests.Order(StringComparer.Ordinal), history.Select(h => h.Digest).Order(StringComparer.Ordinal));
        for (var i = 1; i < history.Count; i++)
        {
            Assert.True(history[i - 1].Generation > history[i].Generation, $"generation {history[i - 1].Generation} at {i - 1} is not above {history[i].Generation} at {i}");
        }

        using var get = await host.Client.GetAsync($"/v2/{name}/manifests/latest");
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(history[0].Digest, get.Header("Docker-Content-Digest"));
        Assert.Equal(manifests[Array.IndexOf(digests, history[0].Digest)], await get.Content.ReadAsByteArrayAsync());

        // Every manifest stays reachable by digest.
        foreach (var digest in digests)
        {
            using var head = await host.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/{name}/manifests/{digest}"));
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        }
    }

    [Fact]
    public async Task ConcurrentUploadsOfOneBlobStoreItOnce()
    {
        const int sessions = 8;
        await using var host = await RegistryHost.StartAsync();
        var name = SharedRegistry.UniqueName("race");
        var content = Oci.RandomBytes(1 << 20);
        var digest = Oci.Digest(content);

        // Every session stages the whole blob first, then all finish at once so the commits race.
        var staged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ready = 0;
        var ids = new string[sessions];
        var uploads = Enumerable.Range(0, sessions).Select(async i =>
        {
            UploadSession session;
            try
            {
                session = await UploadSession.StartAsync(host.Client, name);
                ids[i] = session.Id;
                using var patch = await host.Client.SendAsync(HttpMethod.Patch, session.Location, Oci.Octets(content));
                Assert.Equal(HttpStatusCode.Accepted, patch.StatusCode);
                Assert.Equal($"0-{content.Length - 1}", patch.Header("Range"));
            }
            catch (Exception e)
            {
                staged.TrySetException(e);
                throw;
            }

            if (Interlocked.Increment(ref ready) == sessions)
            {
                staged.SetResult();
            }

            await staged.Task;
            using var put = await session.PutAsync(digest);
            return (put.StatusCode, Location: put.Headers.Location?.OriginalString, Digest: put.Header("Docker-Content-Digest"));
        }).ToArray();
        var results = await Task.WhenAll(uploads).WithinAsync();

        Assert.All(results, r =>
        {
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
            Assert.Equal($"/v2/{name}/blobs/{digest}", r.Location);
            Assert.Equal(digest, r.Digest);
        });

        using (var get = await host.Client.GetAsync($"/v2/{name}/blobs/{digest}"))
        {
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            Assert.Equal(content, await get.Content.ReadAsByteArrayAsync());
        }

        var blobs = Path.Combine(host.DataDirectory, "blobs");
        var file = Assert.Single(DataDirectory.Files(blobs));
        Assert.Equal(DataDirectory.BlobPath(host.DataDirectory, digest), Path.Combine(blobs, file));
        Assert.Equal(content.Length, new FileInfo(Path.Combine(blobs, file)).Length);
        Assert.Empty(DataDirectory.Entries(Path.Combine(host.DataDirectory, "uploads")));
        Assert.Empty(DataDirectory.Entries(Path.Combine(host.DataDirectory, "tmp")));

        // Finished sessions keep no state either.
        var stateFiles = DataDirectory.Files(Path.Combine(host.DataDirectory, "state")).Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
        Assert.DoesNotContain(ids, stateFiles.Contains);
    }

    [Fact]
    public async Task ConcurrentChunkedUploadsIntoOneRepositoryAllSucceed()
    {
        const int uploads = 12;
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("race");
        var contents = Enumerable.Range(0, uploads).Select(i => Oci.RandomBytes(200_000 + (i * 7919))).ToArray();

        var pushes = contents.Select(async content =>
        {
            var session = await UploadSession.StartAsync(host.Client, name);
            var chunk = (content.Length / 4) + 1;
            for (var offset = 0; offset < content.Length; offset += chunk)
            {
                await session.PatchOkAsync(content, offset, Math.Min(chunk, content.Length - offset));
            }

            using var put = await session.PutAsync(Oci.Digest(content));
            return put.StatusCode;
        }).ToArray();
        var statuses = await Task.WhenAll(pushes).WithinAsync();

        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.Created, s));
        foreach (var content in contents)
        {
            using var get = await host.Client.GetAsync($"/v2/{name}/blobs/{Oci.Digest(content)}");
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            Assert.Equal(content, await get.Content.ReadAsByteArrayAsync());
        }

        // All of them are usable by one manifest of that repository.
        var manifest = Oci.ImageManifest(contents[0], contents[1..]);
        using var push = await host.Client.PutManifestAsync(name, "all", manifest);
        Assert.Equal(HttpStatusCode.Created, push.StatusCode);
    }

    [Fact]
    public async Task ConcurrentChunksOfOneSessionNeverInterleave()
    {
        // Two PATCHes racing on one session: each is either appended whole or refused with 416,
        // and the session's bytes are exactly the accepted chunks in the order they were accepted.
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("race");
        var session = await UploadSession.StartAsync(host.Client, name);
        var chunks = Enumerable.Range(0, 6).Select(_ => Oci.RandomBytes(256 * 1024)).ToArray();

        var patches = chunks.Select(async chunk =>
        {
            await Task.Yield();
            using var response = await host.Client.SendAsync(HttpMethod.Patch, session.Location, Oci.Octets(chunk));
            return (Chunk: chunk, response.StatusCode, End: response.StatusCode == HttpStatusCode.Accepted ? long.Parse(response.Header("Range").Split('-')[1], System.Globalization.CultureInfo.InvariantCulture) : -1);
        }).ToArray();
        var results = await Task.WhenAll(patches).WithinAsync();

        Assert.All(results, r => Assert.Contains(r.StatusCode, new[] { HttpStatusCode.Accepted, HttpStatusCode.RequestedRangeNotSatisfiable }));
        var accepted = results.Where(r => r.StatusCode == HttpStatusCode.Accepted).OrderBy(r => r.End).ToArray();
        Assert.NotEmpty(accepted);
        for (var i = 0; i < accepted.Length; i++)
        {
            Assert.Equal(((i + 1) * 256L * 1024) - 1, accepted[i].End);
        }

        byte[] expected = [.. accepted.SelectMany(r => r.Chunk)];
        using (var put = await session.PutAsync(Oci.Digest(expected)))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        using var get = await host.Client.GetAsync($"/v2/{name}/blobs/{Oci.Digest(expected)}");
        Assert.Equal(expected, await get.Content.ReadAsByteArrayAsync());
    }
}
