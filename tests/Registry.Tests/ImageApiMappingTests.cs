using System.Net;
using System.Text;
using System.Text.Json;

namespace Registry.Tests;

/// <summary>
/// ImageStreamMapping create, imagestreams/layers and merge PATCH of ImageStreamTags over plain
/// HTTP against the shared registry: what they change (as a push by tag would) or list, and every
/// refusal as a Kubernetes Status that changes nothing.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ImageApiMappingTests
{
    private const string V1 = "/apis/image.openshift.io/v1";

    [Fact]
    public async Task AMappingTagsAnImagePushedByDigestAsAPushByTagWould()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var v1 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "m1");
        var byDigest = await ImageApiMapping.PushByDigestAsync(host.Client, $"{ns}/app");
        var mappings = $"{V1}/namespaces/{ns}/imagestreammappings";

        using var mapped = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, mappings, ImageApiMapping.Body("app", byDigest, "prod"));
        var status = await mapped.JsonAsync(HttpStatusCode.Created);
        Assert.Equal("Status", status.GetProperty("kind").GetString());
        Assert.Equal("Success", status.GetProperty("status").GetString());
        Assert.Equal(byDigest, (await host.Client.GetManifestAsync($"{ns}/app", "prod")).Digest);

        // No tag is "latest"; a mapping of a tagged name moves it, and history keeps the older image.
        using (var latest = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, mappings, ImageApiMapping.Body("app", v1, null)))
        {
            await latest.JsonAsync(HttpStatusCode.Created);
        }

        using (var moved = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, mappings, ImageApiMapping.Body("app", v1, "prod")))
        {
            await moved.JsonAsync(HttpStatusCode.Created);
        }

        Assert.Equal(["latest", "prod", "v1"], (await host.Client.ListTagsAsync($"{ns}/app")).Order(StringComparer.Ordinal));
        using var stream = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app");
        var prod = stream.RootElement.GetProperty("status").GetProperty("tags").EnumerateArray().Single(t => t.GetProperty("tag").GetString() == "prod");
        Assert.Equal([v1, byDigest], prod.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("image").GetString()));

        // Its event is a push of the tag, of the manifest's URL.
        var log = host.Service<IGrainFactory>().GetGrain<Registry.Grains.INamespaceEventLogGrain>(ns);
        Registry.Grains.RegistryEvent? tagged = null;
        await Poll.UntilAsync(
            async () => (tagged = (await log.ReadAfter(0, 1000)).Events.Select(e => e.Event).FirstOrDefault(e => e.Target.Tag == "prod" && e.Target.Digest == byDigest)) is not null,
            "the namespace's log has the mapping's event");
        Assert.Equal(Registry.Grains.RegistryEvent.Push, tagged!.Action);
        Assert.EndsWith($"/v2/{ns}/app/manifests/{byDigest}", tagged.Target.Url, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EveryBadMappingIsRefusedWithItsStatusAndChangesNothing()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var other = ImageApi.Namespace();
        var v1 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "mb1");
        var mappings = $"{V1}/namespaces/{ns}/imagestreammappings";
        using var before = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app");
        var valid = ImageApiMapping.Body("app", v1, "new");

        async Task Refused(HttpMethod method, string path, string body, HttpStatusCode code, string reason, string contentType = "application/json")
        {
            using var response = await ImageApiWrite.SendAsync(host.Client, method, path, body, contentType);
            await response.AssertStatusAsync(code, reason);
        }

        await Refused(HttpMethod.Post, mappings, valid, HttpStatusCode.UnsupportedMediaType, "UnsupportedMediaType", "text/plain");
        await Refused(HttpMethod.Post, mappings, valid.Replace("\"tag\":", $"\"pad\":\"{new string('x', 65 * 1024)}\",\"tag\":", StringComparison.Ordinal), HttpStatusCode.RequestEntityTooLarge, "RequestEntityTooLarge");
        await Refused(HttpMethod.Post, mappings, "{\"kind\":", HttpStatusCode.BadRequest, "BadRequest");
        await Refused(HttpMethod.Post, mappings, "[]", HttpStatusCode.BadRequest, "BadRequest");
        await Refused(HttpMethod.Post, mappings, valid.Replace("\"ImageStreamMapping\"", "\"ImageStreamTag\"", StringComparison.Ordinal), (HttpStatusCode)422, "Invalid");
        await Refused(HttpMethod.Post, mappings, valid.Replace("image.openshift.io/v1", "v1", StringComparison.Ordinal), (HttpStatusCode)422, "Invalid");
        await Refused(HttpMethod.Post, mappings, ImageApiMapping.Body("App", v1, "new"), (HttpStatusCode)422, "Invalid");
        await Refused(HttpMethod.Post, mappings, ImageApiMapping.Body("", v1, "new"), (HttpStatusCode)422, "Invalid");
        await Refused(HttpMethod.Post, mappings, ImageApiMapping.Body("app", v1, "-bad"), (HttpStatusCode)422, "Invalid");
        await Refused(HttpMethod.Post, mappings, ImageApiMapping.Body("app", v1, new string('t', 129)), (HttpStatusCode)422, "Invalid");
        await Refused(HttpMethod.Post, mappings, ImageApiMapping.Body("app", "sha256:short", "new"), (HttpStatusCode)422, "Invalid");
        await Refused(HttpMethod.Post, mappings, valid.Replace($"\"{v1}\"", "42", StringComparison.Ordinal), (HttpStatusCode)422, "Invalid");
        await Refused(HttpMethod.Post, mappings, valid.Replace("\"new\"", "7", StringComparison.Ordinal), (HttpStatusCode)422, "Invalid");
        await Refused(HttpMethod.Post, mappings, ImageApiMapping.Body("app", v1, "new", other), HttpStatusCode.BadRequest, "BadRequest");
        await Refused(HttpMethod.Post, $"{V1}/namespaces/Bad_ns/imagestreammappings", valid, HttpStatusCode.BadRequest, "BadRequest");

        // A digest nobody pushed, into a stream or one that does not exist; a carried manifest that is not the digest's or whose blobs the stream lacks.
        var nobody = $"sha256:{new string('0', 64)}";
        await Refused(HttpMethod.Post, mappings, ImageApiMapping.Body("app", nobody, "new"), HttpStatusCode.NotFound, "NotFound");
        await Refused(HttpMethod.Post, mappings, ImageApiMapping.Body("nostream", nobody, "new"), HttpStatusCode.NotFound, "NotFound");
        var carried = Oci.ImageManifest(Oci.RandomBytes(10), [Oci.RandomBytes(10)]);
        await Refused(HttpMethod.Post, mappings, ImageApiMapping.Body("app", nobody, "new", manifest: carried), (HttpStatusCode)422, "Invalid");
        await Refused(HttpMethod.Post, mappings, ImageApiMapping.Body("nostream", Oci.Digest(carried), "new", manifest: carried), HttpStatusCode.NotFound, "NotFound");
        await Refused(HttpMethod.Post, mappings, valid.Replace("\"dockerImageReference\"", "\"dockerImageManifest\":7,\"x\"", StringComparison.Ordinal), (HttpStatusCode)422, "Invalid");

        // Created only: never read, replaced or deleted.
        await Refused(HttpMethod.Get, mappings, "", HttpStatusCode.MethodNotAllowed, "MethodNotAllowed");
        await Refused(HttpMethod.Put, mappings, valid, HttpStatusCode.MethodNotAllowed, "MethodNotAllowed");
        await Refused(HttpMethod.Delete, mappings, "", HttpStatusCode.MethodNotAllowed, "MethodNotAllowed");

        Assert.Equal(["v1"], await host.Client.ListTagsAsync($"{ns}/app"));
        using var after = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app");
        Assert.Equal(before.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString(), after.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString());
        using var missing = await host.Client.GetAsync($"/v2/{ns}/nostream/tags/list");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task AMappingCreatesTheStreamWithAnImageOfAnotherStreamOrNamespace()
    {
        var host = await SharedRegistry.GetAsync();
        var (ns, other) = (ImageApi.Namespace(), ImageApi.Namespace());
        var same = await ImageApi.PushAsync(host.Client, $"{ns}/src", "v1", "mc1");
        var elsewhere = await ImageApi.PushAsync(host.Client, $"{other}/src", "v1", "mc2");
        var mappings = $"{V1}/namespaces/{ns}/imagestreammappings";

        // Of the same namespace: found among its streams; the stream is created with the tag.
        using (var mapped = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, mappings, ImageApiMapping.Body("created", same, null)))
        {
            await mapped.JsonAsync(HttpStatusCode.Created);
        }

        var pulled = await host.Client.GetManifestAsync($"{ns}/created", "latest");
        Assert.Equal(same, pulled.Digest);
        using var stream = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/created");
        Assert.Equal(["latest"], stream.RootElement.GetProperty("status").GetProperty("tags").EnumerateArray().Select(t => t.GetProperty("tag").GetString()));

        // Of another namespace: found among the image's holders, once its push is recorded.
        var holding = host.Service<IGrainFactory>().GetGrain<Registry.Grains.IImageGrain>(elsewhere);
        await Poll.UntilAsync(async () => (await holding.GetHolding()).Holders == 1, "the image's push is recorded");
        using (var mapped = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, mappings, ImageApiMapping.Body("copied~deep", elsewhere, "v9")))
        {
            await mapped.JsonAsync(HttpStatusCode.Created);
        }

        Assert.Equal(elsewhere, (await host.Client.GetManifestAsync($"{ns}/copied/deep", "v9")).Digest);
        using var layers = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/copied~deep/layers");
        foreach (var blob in layers.RootElement.GetProperty("blobs").EnumerateObject())
        {
            using var head = await host.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/{ns}/copied/deep/blobs/{blob.Name}"));
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        }
    }

    [Fact]
    public async Task AMappingStoresTheManifestItCarriesWhenTheStreamHoldsItsBlobs()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var config = Oci.Json(new { architecture = "amd64", os = "linux", n = Guid.NewGuid().ToString("N") });
        var layer = Oci.RandomBytes(256);
        await host.Client.PushBlobAsync($"{ns}/carried", config);
        await host.Client.PushBlobAsync($"{ns}/carried", layer);
        var manifest = Oci.ImageManifest(config, [layer]);
        var digest = Oci.Digest(manifest);

        using (var mapped = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreammappings", ImageApiMapping.Body("carried", digest, "v1", manifest: manifest)))
        {
            await mapped.JsonAsync(HttpStatusCode.Created);
        }

        using var get = await host.Client.GetAsync($"/v2/{ns}/carried/manifests/v1");
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(manifest, await get.Content.ReadAsByteArrayAsync());
        using var image = await ImageApi.GetJsonAsync(host.Client, $"{V1}/images/{digest}");
        Assert.Equal("amd64", image.RootElement.GetProperty("dockerImageMetadata").GetProperty("Architecture").GetString());
    }

    [Fact]
    public async Task LayersListEveryImageOfTheHistoryWithItsBlobsAndTheImagesOfAnIndex()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var old = await ImageApi.PushDetailedAsync(host.Client, $"{ns}/app", "latest", "l1");
        var current = await ImageApi.PushDetailedAsync(host.Client, $"{ns}/app", "latest", "l2");
        var amd = await ImageApi.PushAsync(host.Client, $"{ns}/app", "amd", "l-amd");
        var arm = await ImageApi.PushDetailedAsync(host.Client, $"{ns}/app", "arm", "l-arm");
        var index = await ImageApi.PushIndexAsync(host.Client, $"{ns}/app", "multi", amd, arm.Digest);

        using var document = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app/layers");
        var root = document.RootElement;
        Assert.Equal("ImageStreamLayers", root.GetProperty("kind").GetString());
        Assert.Equal("image.openshift.io/v1", root.GetProperty("apiVersion").GetString());
        Assert.Equal("app", root.GetProperty("metadata").GetProperty("name").GetString());
        using var stream = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app");
        Assert.Equal(stream.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString(), root.GetProperty("metadata").GetProperty("resourceVersion").GetString());

        var images = root.GetProperty("images");
        Assert.Equal(new[] { old.Digest, current.Digest, amd, arm.Digest, index }.Order(StringComparer.Ordinal), images.EnumerateObject().Select(p => p.Name));
        var image = images.GetProperty(old.Digest);
        Assert.False(image.GetProperty("imageMissing").GetBoolean());
        Assert.Equal(old.Layers.Select(Oci.Digest), image.GetProperty("layers").EnumerateArray().Select(l => l.GetString()));
        Assert.Equal(Oci.Digest(old.Config), image.GetProperty("config").GetString());
        Assert.Equal([amd, arm.Digest], images.GetProperty(index).GetProperty("manifests").EnumerateArray().Select(m => m.GetString()));
        Assert.Empty(images.GetProperty(index).GetProperty("layers").EnumerateArray());

        var blobs = root.GetProperty("blobs");
        foreach (var layer in old.Layers.Concat(current.Layers).Concat(arm.Layers))
        {
            var blob = blobs.GetProperty(Oci.Digest(layer));
            Assert.Equal(layer.Length, blob.GetProperty("size").GetInt64());
            Assert.Equal(Oci.LayerType, blob.GetProperty("mediaType").GetString());
        }

        Assert.Equal(current.Config.Length, blobs.GetProperty(Oci.Digest(current.Config)).GetProperty("size").GetInt64());
        Assert.Equal(4 * 3, blobs.EnumerateObject().Count());
    }

    [Fact]
    public async Task LayersOfWhatIsNotAStreamAreRefused()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "lr1");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/nostream/layers", 404, "NotFound");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/Bad/layers", 400, "BadRequest");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/Bad_ns/imagestreams/app/layers", 400, "BadRequest");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app/layers", 405, "MethodNotAllowed", method: HttpMethod.Post);
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app/secrets", 404, "NotFound");
    }

    [Theory]
    [InlineData("application/merge-patch+json")]
    [InlineData("application/strategic-merge-patch+json")]
    public async Task AMergePatchOfTagFromMovesTheTagAsAnUpdateWould(string contentType)
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var v1 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "p1");
        var v2 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v2", "p2");

        using var patched = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Patch, $"{V1}/namespaces/{ns}/imagestreamtags/app:v1", ImageApiMapping.FromPatch("ImageStreamImage", $"app@{v2}"), contentType);
        var istag = await patched.JsonAsync(HttpStatusCode.OK);
        Assert.Equal("ImageStreamTag", istag.GetProperty("kind").GetString());
        Assert.Equal(v2, istag.GetProperty("image").GetProperty("metadata").GetProperty("name").GetString());
        Assert.Equal(v2, (await host.Client.GetManifestAsync($"{ns}/app", "v1")).Digest);

        // Then by tag (namespaced as oc writes it): the history has all three.
        var v3 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v3", "p3");
        using var byTag = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Patch, $"{V1}/namespaces/{ns}/imagestreamtags/app:v1", ImageApiMapping.FromPatch("ImageStreamTag", "app:v3", ns), contentType);
        await byTag.JsonAsync(HttpStatusCode.OK);
        using var stream = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app");
        var tag = stream.RootElement.GetProperty("status").GetProperty("tags").EnumerateArray().Single(t => t.GetProperty("tag").GetString() == "v1");
        Assert.Equal([v3, v2, v1], tag.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("image").GetString()));
    }

    [Fact]
    public async Task EveryBadPatchIsRefusedWithItsStatusAndChangesNothing()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var v1 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "pb1");
        var v2 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v2", "pb2");
        var path = $"{V1}/namespaces/{ns}/imagestreamtags/app:v1";
        using var before = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app");
        var valid = ImageApiMapping.FromPatch("ImageStreamImage", $"app@{v2}");
        const string Merge = "application/merge-patch+json";

        async Task Refused(string target, string body, HttpStatusCode code, string reason, string contentType = Merge)
        {
            using var response = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Patch, target, body, contentType);
            await response.AssertStatusAsync(code, reason);
        }

        await Refused(path, $"[{{\"op\":\"replace\",\"path\":\"/tag/nothing/name\",\"value\":\"app@{v2}\"}}]", (HttpStatusCode)422, "Invalid", "application/json-patch+json");
        await Refused(path, valid, HttpStatusCode.BadRequest, "BadRequest", "application/json-patch+json");
        await Refused(path, valid, HttpStatusCode.UnsupportedMediaType, "UnsupportedMediaType", "application/json");
        await Refused(path, valid, HttpStatusCode.UnsupportedMediaType, "UnsupportedMediaType", "application/apply-patch+yaml");
        await Refused(path, valid.Replace("\"tag\":", $"\"pad\":\"{new string('x', 65 * 1024)}\",\"tag\":", StringComparison.Ordinal), HttpStatusCode.RequestEntityTooLarge, "RequestEntityTooLarge");
        await Refused(path, "{\"tag\":", HttpStatusCode.BadRequest, "BadRequest");
        await Refused(path, "[]", HttpStatusCode.BadRequest, "BadRequest");
        await Refused(path, "null", HttpStatusCode.BadRequest, "BadRequest");
        await Refused(path, "{\"tag\":{\"$patch\":\"delete\"}}", (HttpStatusCode)422, "Invalid", "application/strategic-merge-patch+json");

        // The patched object is checked as a PUT body is.
        await Refused(path, "{\"tag\":null}", (HttpStatusCode)422, "Invalid");
        await Refused(path, ImageApiMapping.FromPatch("DockerImage", "example/app:v1"), (HttpStatusCode)422, "Invalid");
        await Refused(path, ImageApiMapping.FromPatch("ImageStreamImage", "app@nothex"), (HttpStatusCode)422, "Invalid");
        await Refused(path, "{\"kind\":\"ImageStream\"}", (HttpStatusCode)422, "Invalid");
        await Refused(path, "{\"metadata\":{\"name\":\"app:v2\"}}", HttpStatusCode.BadRequest, "BadRequest");
        await Refused(path, valid.Replace("{\"tag\"", "{\"metadata\":{\"resourceVersion\":\"1\"},\"tag\"", StringComparison.Ordinal), HttpStatusCode.Conflict, "Conflict");
        await Refused(path, ImageApiMapping.FromPatch("ImageStreamImage", $"app@sha256:{new string('0', 64)}"), HttpStatusCode.NotFound, "NotFound");
        await Refused($"{V1}/namespaces/{ns}/imagestreamtags/app:missing", valid, HttpStatusCode.NotFound, "NotFound");
        await Refused($"{V1}/namespaces/{ns}/imagestreamtags/app", valid, HttpStatusCode.BadRequest, "BadRequest");

        Assert.Equal(v1, (await host.Client.GetManifestAsync($"{ns}/app", "v1")).Digest);
        Assert.Equal(["v1", "v2"], (await host.Client.ListTagsAsync($"{ns}/app")).Order(StringComparer.Ordinal));
        using var after = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app");
        Assert.Equal(before.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString(), after.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString());
        Assert.Equal(before.RootElement.GetProperty("status").GetRawText(), after.RootElement.GetProperty("status").GetRawText());
    }
}

/// <summary>Bodies and pushes for mappings and patches.</summary>
public static class ImageApiMapping
{
    /// <summary>An ImageStreamMapping of image <paramref name="digest"/> to <paramref name="stream"/>:<paramref name="tag"/> (no tag field when null).</summary>
    public static string Body(string stream, string digest, string? tag, string? bodyNamespace = null, byte[]? manifest = null)
    {
        var metadata = new Dictionary<string, string> { ["name"] = stream };
        if (bodyNamespace is not null)
        {
            metadata["namespace"] = bodyNamespace;
        }

        var image = new Dictionary<string, object> { ["metadata"] = new Dictionary<string, string> { ["name"] = digest }, ["dockerImageReference"] = $"registry.invalid/{stream}@{digest}" };
        if (manifest is not null)
        {
            image["dockerImageManifest"] = Encoding.UTF8.GetString(manifest);
            image["dockerImageManifestMediaType"] = Oci.ManifestType;
        }

        var body = new Dictionary<string, object>
        {
            ["kind"] = "ImageStreamMapping",
            ["apiVersion"] = "image.openshift.io/v1",
            ["metadata"] = metadata,
            ["image"] = image,
        };
        if (tag is not null)
        {
            body["tag"] = tag;
        }

        return JsonSerializer.Serialize(body);
    }

    /// <summary>A merge patch of <c>tag.from</c>, as <c>kubectl patch --type=merge</c> sends it.</summary>
    public static string FromPatch(string kind, string name, string? ns = null)
        => ns is null
            ? JsonSerializer.Serialize(new { tag = new { from = new { kind, name } } })
            : JsonSerializer.Serialize(new { tag = new { from = new { kind, name, @namespace = ns } } });

    /// <summary>Pushes a one-layer image by digest only (no tag); returns its digest.</summary>
    public static async Task<string> PushByDigestAsync(HttpClient client, string repository)
    {
        var config = Encoding.UTF8.GetBytes($"{{\"architecture\":\"amd64\",\"os\":\"linux\",\"n\":\"{Guid.NewGuid():N}\"}}");
        var layer = Oci.RandomBytes(512);
        await client.PushBlobAsync(repository, config);
        await client.PushBlobAsync(repository, layer);
        var manifest = Oci.ImageManifest(config, [layer]);
        var digest = Oci.Digest(manifest);
        using var response = await client.PutManifestAsync(repository, digest, manifest);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return digest;
    }
}
