using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>
/// A registry stopped and started again on the same data directory serves everything it
/// acknowledged before: manifests, blobs, tags, their history, the catalog and open uploads.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class RestartTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("registry-restart-").FullName;

    public void Dispose() => Skopeo.TryDelete(_data);

    [Fact]
    public async Task EverythingAcknowledgedSurvivesARestart()
    {
        var name = SharedRegistry.UniqueName("ns");
        var upload = Oci.RandomBytes(3 * 1024 * 1024 + 17);
        var half = upload.Length / 2;

        (string Digest, byte[] Manifest) stable, first, second, third;
        IReadOnlyList<TagHistoryEntry> historyBefore;
        string uploadLocation;
        var blobs = new Dictionary<string, byte[]>(StringComparer.Ordinal);

        var host = await RegistryHost.StartAsync(_data);
        try
        {
            var client = host.Client;
            stable = await client.PushImageAsync(name, "stable", layers: 3);
            first = await client.PushImageAsync(name, "moving");
            second = await client.PushImageAsync(name, "moving");
            third = await client.PushImageAsync(name, "moving");
            foreach (var (digest, _) in new[] { stable, first, second, third })
            {
                foreach (var blob in ReferencedBlobs((await client.GetManifestAsync(name, digest)).Json))
                {
                    blobs[blob] = await client.GetBlobAsync(name, blob);
                }
            }

            historyBefore = await History(host, name, "moving");
            Assert.Equal([third.Digest, second.Digest, first.Digest], historyBefore.Select(h => h.Digest));

            // An upload left half done: the first half is acknowledged, the rest comes after the restart.
            using (var start = await client.PostAsync($"/v2/{name}/blobs/uploads/", null))
            {
                Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
                uploadLocation = start.Headers.Location!.ToString();
            }

            using (var patch = await client.SendAsync(HttpMethod.Patch, uploadLocation, Oci.Octets(upload, 0, half), ("Content-Range", $"0-{half - 1}")))
            {
                Assert.Equal(HttpStatusCode.Accepted, patch.StatusCode);
                Assert.Equal($"0-{half - 1}", patch.Header("Range"));
            }
        }
        finally
        {
            await host.StopAsync();
        }

        host = await RegistryHost.StartAsync(_data);
        try
        {
            var client = host.Client;

            // Manifests by tag and by digest, byte for byte.
            Assert.Equal(stable.Manifest, (await client.GetManifestAsync(name, "stable")).Content);
            Assert.Equal(third.Manifest, (await client.GetManifestAsync(name, "moving")).Content);
            foreach (var (digest, manifest) in new[] { stable, first, second, third })
            {
                Assert.Equal(manifest, (await client.GetManifestAsync(name, digest)).Content);
            }

            // Every blob.
            Assert.Equal((1 + 3) + (3 * (1 + 2)), blobs.Count);
            foreach (var (digest, content) in blobs)
            {
                Assert.Equal(content, await client.GetBlobAsync(name, digest));
            }

            Assert.Equal(["moving", "stable"], await client.ListTagsAsync(name));
            Assert.Contains(name, await client.CatalogAsync());

            // The tag's history, read from the repository grain, is the one acknowledged before.
            var historyAfter = await History(host, name, "moving");
            Assert.Equal(historyBefore, historyAfter);
            Assert.Equal(3, historyAfter.Count);
            Assert.True(historyAfter[0].Generation > historyAfter[1].Generation && historyAfter[1].Generation > historyAfter[2].Generation, "generations are not strictly decreasing, newest first");
            Assert.Equal([stable.Digest], (await History(host, name, "stable")).Select(h => h.Digest));

            // The upload resumes where it was: status, the second half, and the digest over both halves.
            using (var status = await client.GetAsync(uploadLocation))
            {
                Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
                Assert.Equal($"0-{half - 1}", status.Header("Range"));
            }

            using (var patch = await client.SendAsync(HttpMethod.Patch, uploadLocation, Oci.Octets(upload, half), ("Content-Range", string.Create(CultureInfo.InvariantCulture, $"{half}-{upload.Length - 1}"))))
            {
                Assert.Equal(HttpStatusCode.Accepted, patch.StatusCode);
                Assert.Equal($"0-{upload.Length - 1}", patch.Header("Range"));
            }

            var uploadDigest = Oci.Digest(upload);
            using (var put = await client.PutAsync($"{uploadLocation}?digest={uploadDigest}", null))
            {
                Assert.Equal(HttpStatusCode.Created, put.StatusCode);
                Assert.Equal(uploadDigest, put.Header("Docker-Content-Digest"));
            }

            Assert.Equal(upload, await client.GetBlobAsync(name, uploadDigest));

            // And the repository still takes writes: the tag moves once more.
            var fourth = await client.PushImageAsync(name, "moving");
            Assert.Equal([fourth.Digest, third.Digest, second.Digest, first.Digest], (await History(host, name, "moving")).Select(h => h.Digest));
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task UploadFinishedWithItsLastChunkAfterARestartIsVerified()
    {
        var name = SharedRegistry.UniqueName("ns");
        var content = Oci.RandomBytes(1024 * 1024 + 5);
        var wrong = (byte[])content.Clone();
        wrong[10] ^= 0xff;
        string good, bad;

        var host = await RegistryHost.StartAsync(_data);
        try
        {
            good = await StartWithChunkAsync(host.Client, name, content, 1000);
            bad = await StartWithChunkAsync(host.Client, name, wrong, 1000);
        }
        finally
        {
            await host.StopAsync();
        }

        host = await RegistryHost.StartAsync(_data);
        try
        {
            var digest = Oci.Digest(content);

            // The tampered upload's staged bytes do not hash to the digest: refused, and nothing visible.
            using (var put = await host.Client.PutAsync($"{bad}?digest={digest}", Oci.Octets(wrong, 1000)))
            {
                await put.AssertErrorAsync(HttpStatusCode.BadRequest, "DIGEST_INVALID");
            }

            using (var head = await host.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/{name}/blobs/{digest}")))
            {
                Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
            }

            // The good one is completed by a PUT that carries the rest of the bytes.
            using (var put = await host.Client.PutAsync($"{good}?digest={digest}", Oci.Octets(content, 1000)))
            {
                Assert.Equal(HttpStatusCode.Created, put.StatusCode);
            }

            Assert.Equal(content, await host.Client.GetBlobAsync(name, digest));
        }
        finally
        {
            await host.StopAsync();
        }
    }

    private static async Task<IReadOnlyList<TagHistoryEntry>> History(RegistryHost host, string name, string tag)
        => await host.Services.GetRequiredService<IGrainFactory>().GetGrain<IRepositoryGrain>(name).GetTagHistory(tag);

    private static IEnumerable<string> ReferencedBlobs(System.Text.Json.JsonElement manifest)
        => manifest.GetProperty("layers").EnumerateArray().Prepend(manifest.GetProperty("config")).Select(d => d.GetProperty("digest").GetString()!);

    private static async Task<string> StartWithChunkAsync(HttpClient client, string name, byte[] content, int length)
    {
        string location;
        using (var start = await client.PostAsync($"/v2/{name}/blobs/uploads/", null))
        {
            Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
            location = start.Headers.Location!.ToString();
        }

        using var patch = await client.SendAsync(HttpMethod.Patch, location, Oci.Octets(content, 0, length));
        Assert.Equal(HttpStatusCode.Accepted, patch.StatusCode);
        Assert.Equal($"0-{length - 1}", patch.Header("Range"));
        return location;
    }
}

/// <summary>The restart seen by a real client: what skopeo pushed before a restart, it pulls after it.</summary>
[Trait("Category", TestCategories.Skopeo)]
public sealed class SkopeoRestartTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("registry-restart-").FullName;

    public void Dispose() => Skopeo.TryDelete(_data);

    [Fact]
    public async Task SkopeoPullsAfterARestartWhatItPushedBefore()
    {
        var name = SharedRegistry.UniqueName("ns");
        var work = Path.Combine(_data, "..", Path.GetFileName(_data) + "-layouts");
        try
        {
            var source = OciLayout.Create(Path.Combine(work, "src"));
            var index = source.WriteMultiArchIndex(2, ("linux", "amd64", null), ("linux", "arm64", "v8"));
            source.Tag(index.Index, "multi");

            var host = await RegistryHost.StartAsync(_data);
            try
            {
                await Skopeo.PushAsync($"oci:{source.Root}:multi", $"docker://{host.Authority}/{name}:multi", "--all", "--preserve-digests");
            }
            finally
            {
                await host.StopAsync();
            }

            host = await RegistryHost.StartAsync(_data);
            try
            {
                var destination = Path.Combine(work, "pulled");
                await Skopeo.PullAsync($"docker://{host.Authority}/{name}:multi", $"oci:{destination}:multi", "--all", "--preserve-digests");
                var pulled = OciLayout.Open(destination);
                Assert.Equal(index.Index.Digest, pulled.Resolve("multi").Digest);
                Assert.Equal(source.Closure(index.Index.Digest).Order(), pulled.Closure(index.Index.Digest).Order());
                pulled.VerifyBlobs();
            }
            finally
            {
                await host.StopAsync();
            }
        }
        finally
        {
            Skopeo.TryDelete(work);
        }
    }
}
