using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Registry.Grains;

namespace Registry.Tests;

[Trait("Category", TestCategories.Fast)]
public sealed class ManifestTests
{
    [Fact]
    public async Task PutByTagThenGetAndHeadByTagAndDigest()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var (digest, manifest) = await host.Client.PushImageAsync(name, "v1");

        foreach (var reference in new[] { "v1", digest })
        {
            using var get = await host.Client.SendAsync(HttpMethod.Get, $"/v2/{name}/manifests/{reference}", null, ("Accept", Oci.ManifestType));
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            Assert.Equal(manifest, await get.Content.ReadAsByteArrayAsync());
            Assert.Equal(Oci.ManifestType, get.Content.Headers.ContentType!.MediaType);
            Assert.Equal(digest, get.Header("Docker-Content-Digest"));

            using var head = await host.Client.SendAsync(HttpMethod.Head, $"/v2/{name}/manifests/{reference}");
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
            Assert.Equal(manifest.Length, head.Content.Headers.ContentLength);
            Assert.Equal(Oci.ManifestType, head.Content.Headers.ContentType!.MediaType);
            Assert.Equal(digest, head.Header("Docker-Content-Digest"));
        }
    }

    [Fact]
    public async Task PutAnswersWithLocationAndDigest()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var config = Encoding.UTF8.GetBytes("{}");
        await host.Client.PushBlobAsync(name, config);
        var manifest = Oci.ImageManifest(config, []);
        using var put = await host.Client.PutManifestAsync(name, "latest", manifest);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(Oci.Digest(manifest), put.Header("Docker-Content-Digest"));
        Assert.Equal($"/v2/{name}/manifests/{Oci.Digest(manifest)}", put.Headers.Location!.ToString());
    }

    [Fact]
    public async Task BytesAreKeptExactlyAsSent()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var config = Oci.RandomBytes(10);
        var configDigest = await host.Client.PushBlobAsync(name, config);
        // Odd whitespace and key order: a re-serializing registry would change the digest.
        var manifest = Encoding.UTF8.GetBytes($"{{ \"mediaType\":\"{Oci.ManifestType}\",\n  \"schemaVersion\" : 2, \"config\":{{\"size\":10,\"digest\":\"{configDigest}\",\"mediaType\":\"{Oci.ConfigType}\"}}, \"layers\":[] , \"annotations\":{{\"z\":\"1\",\"a\":\"2\"}} }}");
        using var put = await host.Client.PutManifestAsync(name, Oci.Digest(manifest), manifest);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(manifest, await host.Client.GetByteArrayAsync($"/v2/{name}/manifests/{Oci.Digest(manifest)}"));
    }

    [Fact]
    public async Task DockerSchema2ManifestAndList()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var config = Oci.RandomBytes(30);
        var layer = Oci.RandomBytes(40);
        await host.Client.PushBlobAsync(name, config);
        await host.Client.PushBlobAsync(name, layer);
        var manifest = Oci.Json(new
        {
            schemaVersion = 2,
            mediaType = Oci.DockerManifestType,
            config = new { mediaType = "application/vnd.docker.container.image.v1+json", digest = Oci.Digest(config), size = config.Length },
            layers = new[] { new { mediaType = "application/vnd.docker.image.rootfs.diff.tar.gzip", digest = Oci.Digest(layer), size = layer.Length } },
        });
        using var put = await host.Client.PutManifestAsync(name, "amd64", manifest, Oci.DockerManifestType);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);

        var list = Oci.Json(new
        {
            schemaVersion = 2,
            mediaType = Oci.DockerListType,
            manifests = new[] { new { mediaType = Oci.DockerManifestType, digest = Oci.Digest(manifest), size = manifest.Length, platform = new { architecture = "amd64", os = "linux" } } },
        });
        using var putList = await host.Client.PutManifestAsync(name, "latest", list, Oci.DockerListType);
        Assert.Equal(HttpStatusCode.Created, putList.StatusCode);

        using var get = await host.Client.SendAsync(HttpMethod.Get, $"/v2/{name}/manifests/latest", null, ("Accept", $"{Oci.DockerListType}, {Oci.DockerManifestType}"));
        Assert.Equal(Oci.DockerListType, get.Content.Headers.ContentType!.MediaType);
        Assert.Equal(list, await get.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task IndexNeedsItsChildManifests()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var (child, childBytes) = await host.Client.PushImageAsync(name, "child");
        var missing = Oci.Digest(Oci.RandomBytes(8));
        var bad = Oci.Json(new
        {
            schemaVersion = 2,
            mediaType = Oci.IndexType,
            manifests = new[]
            {
                new { mediaType = Oci.ManifestType, digest = child, size = childBytes.Length },
                new { mediaType = Oci.ManifestType, digest = missing, size = 100 },
            },
        });
        using var refused = await host.Client.PutManifestAsync(name, "multi", bad, Oci.IndexType);
        await refused.AssertErrorAsync(HttpStatusCode.BadRequest, "MANIFEST_BLOB_UNKNOWN");
        using var notThere = await host.Client.GetAsync($"/v2/{name}/manifests/multi");
        await notThere.AssertErrorAsync(HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");

        var good = Oci.Json(new { schemaVersion = 2, mediaType = Oci.IndexType, manifests = new[] { new { mediaType = Oci.ManifestType, digest = child, size = childBytes.Length } } });
        using var accepted = await host.Client.PutManifestAsync(name, "multi", good, Oci.IndexType);
        Assert.Equal(HttpStatusCode.Created, accepted.StatusCode);
    }

    [Fact]
    public async Task ManifestReferencingAMissingBlobIsRefused()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var config = Oci.RandomBytes(10);
        await host.Client.PushBlobAsync(name, config);
        var manifest = Oci.ImageManifest(config, [Oci.RandomBytes(20)]);
        using var put = await host.Client.PutManifestAsync(name, "v1", manifest);
        await put.AssertErrorAsync(HttpStatusCode.BadRequest, "MANIFEST_BLOB_UNKNOWN");
        using var get = await host.Client.GetAsync($"/v2/{name}/manifests/{Oci.Digest(manifest)}");
        await get.AssertErrorAsync(HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        using var tags = await host.Client.GetAsync($"/v2/{name}/tags/list");
        Assert.DoesNotContain("v1", await tags.Content.ReadAsStringAsync());

        // The refused manifest left no bytes behind, so no mount (which without from may take any
        // stored blob) can bring them back.
        Assert.Null(await host.Service<Registry.Storage.IBlobStore>().GetSizeAsync(Oci.Digest(manifest), CancellationToken.None));
        using var mount = await host.Client.PostAsync($"/v2/{SharedRegistry.UniqueName()}/blobs/uploads/?mount={Oci.Digest(manifest)}", null);
        Assert.Equal(HttpStatusCode.Accepted, mount.StatusCode);
    }

    [Fact]
    public async Task BlobsOfAnotherRepositoryDoNotCount()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var config = Oci.RandomBytes(10);
        await host.Client.PushBlobAsync(SharedRegistry.UniqueName(), config);
        using var put = await host.Client.PutManifestAsync(name, "v1", Oci.ImageManifest(config, []));
        await put.AssertErrorAsync(HttpStatusCode.BadRequest, "MANIFEST_BLOB_UNKNOWN");
    }

    [Theory]
    [InlineData("{not json")]
    [InlineData("[]")]
    [InlineData("{\"schemaVersion\":2}")]
    [InlineData("{\"schemaVersion\":3,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}")]
    [InlineData("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"digest\":\"sha256:nothex\",\"size\":1,\"mediaType\":\"x\"}}")]
    [InlineData("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"digest\":\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\",\"size\":-1,\"mediaType\":\"x\"}}")]
    [InlineData("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":{}}")]
    public async Task MalformedManifestsAreInvalid(string body)
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var bytes = Encoding.UTF8.GetBytes(body);
        using var put = await host.Client.PutManifestAsync(name, "bad", bytes, body.Contains("index", StringComparison.Ordinal) ? Oci.IndexType : Oci.ManifestType);
        await put.AssertErrorAsync(HttpStatusCode.BadRequest, "MANIFEST_INVALID");
        using var tags = await host.Client.GetAsync($"/v2/{name}/tags/list");
        await tags.AssertErrorAsync(HttpStatusCode.NotFound, "NAME_UNKNOWN");
    }

    [Theory]
    [InlineData("application/vnd.example.unknown+json", "{\"schemaVersion\":2}")]
    [InlineData("application/vnd.docker.distribution.manifest.v1+prettyjws", "{\"schemaVersion\":1,\"name\":\"x\",\"tag\":\"y\",\"fsLayers\":[]}")]
    public async Task UnknownAndSchema1MediaTypesAreRefused(string mediaType, string body)
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        using var put = await host.Client.PutManifestAsync(name, "bad", Encoding.UTF8.GetBytes(body), mediaType);
        await put.AssertErrorAsync(HttpStatusCode.BadRequest, "MANIFEST_INVALID");
    }

    [Fact]
    public async Task OversizedManifestIs413()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var huge = new byte[4 * 1024 * 1024 + 1];
        Array.Fill(huge, (byte)' ');
        using var put = await host.Client.PutManifestAsync(name, "big", huge);
        await put.AssertErrorAsync(HttpStatusCode.RequestEntityTooLarge, "SIZE_INVALID");

        // Without Content-Length (chunked), the limit holds while reading.
        var content = new StreamContent(new MemoryStream(huge));
        content.Headers.ContentType = new(Oci.ManifestType);
        using var request = new HttpRequestMessage(HttpMethod.Put, $"/v2/{name}/manifests/big") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using var chunked = await host.Client.SendAsync(request);
        await chunked.AssertErrorAsync(HttpStatusCode.RequestEntityTooLarge, "SIZE_INVALID");
    }

    [Fact]
    public async Task PutByDigestMustMatchTheBody()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var config = Oci.RandomBytes(10);
        await host.Client.PushBlobAsync(name, config);
        var manifest = Oci.ImageManifest(config, []);
        using var put = await host.Client.PutManifestAsync(name, Oci.Digest(Oci.RandomBytes(3)), manifest);
        await put.AssertErrorAsync(HttpStatusCode.BadRequest, "DIGEST_INVALID");
    }

    [Fact]
    public async Task AcceptHeaderWithoutTheStoredTypeIsNotServed()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        await host.Client.PushImageAsync(name, "v1");
        using var get = await host.Client.SendAsync(HttpMethod.Get, $"/v2/{name}/manifests/v1", null, ("Accept", Oci.DockerManifestType));
        await get.AssertErrorAsync(HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        using var any = await host.Client.SendAsync(HttpMethod.Get, $"/v2/{name}/manifests/v1", null, ("Accept", "*/*"));
        Assert.Equal(HttpStatusCode.OK, any.StatusCode);
        using var list = await host.Client.SendAsync(HttpMethod.Get, $"/v2/{name}/manifests/v1", null, ("Accept", $"{Oci.DockerManifestType}, {Oci.ManifestType};q=0.9"));
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
    }

    [Fact]
    public async Task DeleteByDigestRemovesTheManifestAndItsTags()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var (digest, manifest) = await host.Client.PushImageAsync(name, "v1");
        using var again = await host.Client.PutManifestAsync(name, "v2", manifest);
        var (keep, _) = await host.Client.PushImageAsync(name, "other");

        using var delete = await host.Client.DeleteAsync($"/v2/{name}/manifests/{digest}");
        Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        foreach (var reference in new[] { digest, "v1", "v2" })
        {
            using var get = await host.Client.GetAsync($"/v2/{name}/manifests/{reference}");
            await get.AssertErrorAsync(HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        }

        Assert.Equal("{\"name\":\"" + name + "\",\"tags\":[\"other\"]}", await host.Client.GetStringAsync($"/v2/{name}/tags/list"));
        using var twice = await host.Client.DeleteAsync($"/v2/{name}/manifests/{digest}");
        await twice.AssertErrorAsync(HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        using var kept = await host.Client.GetAsync($"/v2/{name}/manifests/{keep}");
        Assert.Equal(HttpStatusCode.OK, kept.StatusCode);
    }

    [Fact]
    public async Task DeleteByTagRemovesOnlyTheTag()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var (digest, _) = await host.Client.PushImageAsync(name, "v1");
        using var delete = await host.Client.DeleteAsync($"/v2/{name}/manifests/v1");
        Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        using var byTag = await host.Client.GetAsync($"/v2/{name}/manifests/v1");
        await byTag.AssertErrorAsync(HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        using var byDigest = await host.Client.GetAsync($"/v2/{name}/manifests/{digest}");
        Assert.Equal(HttpStatusCode.OK, byDigest.StatusCode);
        using var twice = await host.Client.DeleteAsync($"/v2/{name}/manifests/v1");
        await twice.AssertErrorAsync(HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
    }

    [Fact]
    public async Task TagHistoryKeepsEveryWriteNewestFirst()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var (first, _) = await host.Client.PushImageAsync(name, "stable");
        var (second, _) = await host.Client.PushImageAsync(name, "stable");
        var (third, _) = await host.Client.PushImageAsync(name, "stable");

        var history = await host.Services.GetRequiredService<IGrainFactory>().GetGrain<IRepositoryGrain>(name).GetTagHistory("stable");
        Assert.Equal([third, second, first], history.Select(h => h.Digest));
        Assert.True(history[0].Generation > history[1].Generation && history[1].Generation > history[2].Generation);
        Assert.True(history[0].Created >= history[2].Created);
    }
}
