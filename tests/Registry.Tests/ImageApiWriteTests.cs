using System.Net;
using System.Text;
using System.Text.Json;

namespace Registry.Tests;

/// <summary>
/// The image API's changes over plain HTTP against the shared registry: ImageStreamTag create,
/// update (move, rollback, copy from another stream or namespace) and delete, ImageStream delete,
/// what /v2 and a watcher see of them, and every refusal as a Kubernetes Status that changes nothing.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ImageApiWriteTests
{
    private const string V1 = "/apis/image.openshift.io/v1";

    [Fact]
    public async Task CreateTagsAnImageOfTheStreamAndV2ServesIt()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var v1 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "c1");

        using var created = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreamtags", ImageApiWrite.Tag("app:prod", "ImageStreamImage", $"app@{v1}"));
        var istag = await created.JsonAsync(HttpStatusCode.Created);
        Assert.Equal("ImageStreamTag", istag.GetProperty("kind").GetString());
        Assert.Equal("app:prod", istag.GetProperty("metadata").GetProperty("name").GetString());
        Assert.Equal(v1, istag.GetProperty("image").GetProperty("metadata").GetProperty("name").GetString());

        Assert.Equal(v1, (await host.Client.GetManifestAsync($"{ns}/app", "prod")).Digest);
        Assert.Equal(["prod", "v1"], (await host.Client.ListTagsAsync($"{ns}/app")).Order(StringComparer.Ordinal));
        using var read = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreamtags/app:prod");
        Assert.Equal(v1, read.RootElement.GetProperty("image").GetProperty("metadata").GetProperty("name").GetString());

        // The same create again: the tag exists.
        using var again = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreamtags", ImageApiWrite.Tag("app:prod", "ImageStreamTag", "app:v1"));
        await again.AssertStatusAsync(HttpStatusCode.Conflict, "AlreadyExists");

        // A tag of the same stream, named by tag alone; and an update that creates a tag.
        using var byTag = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreamtags", ImageApiWrite.Tag("app:stable", "ImageStreamTag", "v1"));
        await byTag.JsonAsync(HttpStatusCode.Created);
        using var put = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, $"{V1}/namespaces/{ns}/imagestreamtags/app:next", ImageApiWrite.Tag("app:next", "ImageStreamImage", v1));
        await put.JsonAsync(HttpStatusCode.Created);
        Assert.Equal(["next", "prod", "stable", "v1"], (await host.Client.ListTagsAsync($"{ns}/app")).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task RollbackToAnOlderImageByPrefixMakesItTheNewestHistoryEntry()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var older = await ImageApi.PushAsync(host.Client, $"{ns}/app", "latest", "r1");
        var newer = await ImageApi.PushAsync(host.Client, $"{ns}/app", "latest", "r2");

        // oc tag app@sha256:<older> app:latest, the digest shortened to a unique prefix.
        using var moved = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, $"{V1}/namespaces/{ns}/imagestreamtags/app:latest", ImageApiWrite.Tag("app:latest", "ImageStreamImage", $"app@{older["sha256:".Length..][..12]}", ns));
        var istag = await moved.JsonAsync(HttpStatusCode.OK);
        Assert.Equal(older, istag.GetProperty("image").GetProperty("metadata").GetProperty("name").GetString());

        Assert.Equal(older, (await host.Client.GetManifestAsync($"{ns}/app", "latest")).Digest);
        using var stream = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app");
        var items = stream.RootElement.GetProperty("status").GetProperty("tags")[0].GetProperty("items").EnumerateArray().ToArray();
        Assert.Equal([older, newer, older], items.Select(i => i.GetProperty("image").GetString()));
        Assert.True(items[0].GetProperty("generation").GetInt64() > items[1].GetProperty("generation").GetInt64());
    }

    [Fact]
    public async Task AnUpdateWithAStaleResourceVersionIsAConflictAndTheCurrentOneMovesTheTag()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var one = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "s1");
        var two = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v2", "s2");
        using var read = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreamtags/app:v1");
        var version = read.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString()!;
        await ImageApi.PushAsync(host.Client, $"{ns}/app", "v3", "s3");

        using var stale = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, $"{V1}/namespaces/{ns}/imagestreamtags/app:v1", ImageApiWrite.Tag("app:v1", "ImageStreamTag", "app:v2", resourceVersion: version));
        await stale.AssertStatusAsync(HttpStatusCode.Conflict, "Conflict");
        Assert.Equal(one, (await host.Client.GetManifestAsync($"{ns}/app", "v1")).Digest);

        using var current = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreamtags/app:v1");
        var now = current.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString()!;
        using var moved = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, $"{V1}/namespaces/{ns}/imagestreamtags/app:v1", ImageApiWrite.Tag("app:v1", "ImageStreamTag", "app:v2", resourceVersion: now));
        var istag = await moved.JsonAsync(HttpStatusCode.OK);
        Assert.Equal(two, istag.GetProperty("image").GetProperty("metadata").GetProperty("name").GetString());
        Assert.NotEqual(now, istag.GetProperty("metadata").GetProperty("resourceVersion").GetString());
        Assert.Equal(two, (await host.Client.GetManifestAsync($"{ns}/app", "v1")).Digest);
    }

    [Fact]
    public async Task ATagFromAnotherNamespaceCopiesTheImageWithItsBlobsAndAnIndexWithItsImages()
    {
        var host = await SharedRegistry.GetAsync();
        var source = ImageApi.Namespace();
        var target = ImageApi.Namespace();
        var pushed = await ImageApi.PushDetailedAsync(host.Client, $"{source}/app", "v1", "x1");
        var amd = await ImageApi.PushAsync(host.Client, $"{source}/app", "amd", "x-amd");
        var arm = await ImageApi.PushAsync(host.Client, $"{source}/app", "arm", "x-arm");
        var index = await ImageApi.PushIndexAsync(host.Client, $"{source}/app", "multi", amd, arm);

        using var copied = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, $"{V1}/namespaces/{target}/imagestreamtags", ImageApiWrite.Tag("web:v1", "ImageStreamTag", "app:v1", source));
        var istag = await copied.JsonAsync(HttpStatusCode.Created);
        Assert.Equal(pushed.Digest, istag.GetProperty("image").GetProperty("metadata").GetProperty("name").GetString());
        Assert.Equal(pushed.Digest, (await host.Client.GetManifestAsync($"{target}/web", "v1")).Digest);
        foreach (var blob in pushed.Layers.Append(pushed.Config))
        {
            Assert.Equal(blob, await host.Client.GetBlobAsync($"{target}/web", Oci.Digest(blob)));
        }

        using var multi = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, $"{V1}/namespaces/{target}/imagestreamtags", ImageApiWrite.Tag("web:multi", "ImageStreamImage", $"app@{index}", source));
        await multi.JsonAsync(HttpStatusCode.Created);
        Assert.Equal(index, (await host.Client.GetManifestAsync($"{target}/web", "multi")).Digest);
        Assert.Equal(arm, (await host.Client.GetManifestAsync($"{target}/web", arm)).Digest);
        Assert.Equal(["multi", "v1"], (await host.Client.ListTagsAsync($"{target}/web")).Order(StringComparer.Ordinal));

        // The source is as it was.
        Assert.Equal(["amd", "arm", "multi", "v1"], (await host.Client.ListTagsAsync($"{source}/app")).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task DeletingATagAndAStreamRemovesThemFromV2()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var v1 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "d1");
        await ImageApi.PushAsync(host.Client, $"{ns}/app", "v2", "d2");

        using var deleted = await host.Client.DeleteAsync($"{V1}/namespaces/{ns}/imagestreamtags/app:v1");
        var status = await deleted.JsonAsync(HttpStatusCode.OK);
        Assert.Equal("Success", status.GetProperty("status").GetString());
        Assert.Equal(["v2"], await host.Client.ListTagsAsync($"{ns}/app"));
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreamtags/app:v1", 404, "NotFound");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreamtags/app:v1", 404, "NotFound", method: HttpMethod.Delete);

        // The manifest stays (only the tag went), until the stream goes.
        Assert.Equal(v1, (await host.Client.GetManifestAsync($"{ns}/app", v1)).Digest);
        using var gone = await host.Client.DeleteAsync($"{V1}/namespaces/{ns}/imagestreams/app");
        Assert.Equal("Success", (await gone.JsonAsync(HttpStatusCode.OK)).GetProperty("status").GetString());
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app", 404, "NotFound");
        using var manifest = await host.Client.GetAsync($"/v2/{ns}/app/manifests/{v1}");
        Assert.Equal(HttpStatusCode.NotFound, manifest.StatusCode);
        using var tags = await host.Client.GetAsync($"/v2/{ns}/app/tags/list");
        Assert.Equal(HttpStatusCode.NotFound, tags.StatusCode);
        using var list = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams");
        Assert.Equal(0, list.RootElement.GetProperty("items").GetArrayLength());
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app", 404, "NotFound", method: HttpMethod.Delete);
    }

    [Fact]
    public async Task EveryBadRequestIsRefusedWithItsStatusAndChangesNothing()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var other = ImageApi.Namespace();
        var v1 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "e1");
        var v2 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v2", "e2");
        var tags = $"{V1}/namespaces/{ns}/imagestreamtags";
        using var before = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app");
        var valid = ImageApiWrite.Tag("app:new", "ImageStreamImage", $"app@{v1}");

        async Task Refused(HttpMethod method, string path, string body, HttpStatusCode code, string reason, string contentType = "application/json")
        {
            using var response = await ImageApiWrite.SendAsync(host.Client, method, path, body, contentType);
            await response.AssertStatusAsync(code, reason);
        }

        await Refused(HttpMethod.Post, tags, valid, HttpStatusCode.UnsupportedMediaType, "UnsupportedMediaType", "text/plain");
        await Refused(HttpMethod.Post, tags, valid, HttpStatusCode.UnsupportedMediaType, "UnsupportedMediaType", "application/yaml");
        await Refused(HttpMethod.Post, tags, valid.Replace("\"tag\":", $"\"pad\":\"{new string('x', 65 * 1024)}\",\"tag\":", StringComparison.Ordinal), HttpStatusCode.RequestEntityTooLarge, "RequestEntityTooLarge");
        using (var chunked = new HttpRequestMessage(HttpMethod.Post, tags) { Content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(valid.Replace("\"tag\":", $"\"pad\":\"{new string('x', 65 * 1024)}\",\"tag\":", StringComparison.Ordinal)))) })
        {
            // No Content-Length: the body is read up to the limit and no further.
            chunked.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            chunked.Headers.TransferEncodingChunked = true;
            using var response = await host.Client.SendAsync(chunked);
            await response.AssertStatusAsync(HttpStatusCode.RequestEntityTooLarge, "RequestEntityTooLarge");
        }

        await Refused(HttpMethod.Post, tags, "{\"kind\":", HttpStatusCode.BadRequest, "BadRequest");
        await Refused(HttpMethod.Post, tags, "[]", HttpStatusCode.BadRequest, "BadRequest");
        await Refused(HttpMethod.Post, tags, valid.Replace("\"ImageStreamTag\"", "\"ImageStream\"", StringComparison.Ordinal), (HttpStatusCode)422, "Invalid");
        await Refused(HttpMethod.Post, tags, valid.Replace("image.openshift.io/v1", "image.openshift.io/v2", StringComparison.Ordinal), (HttpStatusCode)422, "Invalid");
        await Refused(HttpMethod.Post, tags, valid.Replace("app:new", "app", StringComparison.Ordinal), (HttpStatusCode)422, "Invalid");
        await Refused(HttpMethod.Post, tags, valid.Replace("app:new", "App:new", StringComparison.Ordinal), (HttpStatusCode)422, "Invalid");
        await Refused(HttpMethod.Post, tags, ImageApiWrite.Tag("app:new", "ImageStreamImage", $"app@{v1}").Replace(",\"from\":", ",\"notFrom\":", StringComparison.Ordinal), (HttpStatusCode)422, "Invalid");
        await Refused(HttpMethod.Post, tags, """{"kind":"ImageStreamTag","apiVersion":"image.openshift.io/v1","metadata":{"name":"app:new"}}""", (HttpStatusCode)422, "Invalid");
        await Refused(HttpMethod.Post, tags, ImageApiWrite.Tag("app:new", "DockerImage", "example/app:v1"), (HttpStatusCode)422, "Invalid");
        await Refused(HttpMethod.Post, tags, ImageApiWrite.Tag("app:new", "ImageStreamImage", "app@nothex"), (HttpStatusCode)422, "Invalid");
        await Refused(HttpMethod.Post, tags, ImageApiWrite.Tag("app:new", "ImageStreamTag", "app:v1", "Bad_Namespace"), (HttpStatusCode)422, "Invalid");
        await Refused(HttpMethod.Post, tags, ImageApiWrite.Tag("app:new", "ImageStreamTag", "app:v1", tagName: "other"), (HttpStatusCode)422, "Invalid");
        await Refused(HttpMethod.Put, $"{tags}/app:v1", ImageApiWrite.Tag("app:v1", "ImageStreamTag", "app:v2", resourceVersion: "x"), (HttpStatusCode)422, "Invalid");

        // The URL and the body must agree on the name and the namespace.
        await Refused(HttpMethod.Put, $"{tags}/app:v1", ImageApiWrite.Tag("app:v2", "ImageStreamTag", "app:v1"), HttpStatusCode.BadRequest, "BadRequest");
        await Refused(HttpMethod.Post, tags, ImageApiWrite.Tag("app:new", "ImageStreamTag", "app:v1", bodyNamespace: other), HttpStatusCode.BadRequest, "BadRequest");
        await Refused(HttpMethod.Put, $"{tags}/app", ImageApiWrite.Tag("app:v1", "ImageStreamTag", "app:v2"), HttpStatusCode.BadRequest, "BadRequest");

        // Sources that do not exist.
        await Refused(HttpMethod.Post, tags, ImageApiWrite.Tag("app:new", "ImageStreamTag", "app:missing"), HttpStatusCode.NotFound, "NotFound");
        await Refused(HttpMethod.Post, tags, ImageApiWrite.Tag("app:new", "ImageStreamImage", $"app@sha256:{new string('0', 64)}"), HttpStatusCode.NotFound, "NotFound");
        await Refused(HttpMethod.Post, tags, ImageApiWrite.Tag("app:new", "ImageStreamImage", "app@ffffffffffff"), HttpStatusCode.NotFound, "NotFound");
        await Refused(HttpMethod.Post, tags, ImageApiWrite.Tag("app:new", "ImageStreamTag", "nostream:v1"), HttpStatusCode.NotFound, "NotFound");
        await Refused(HttpMethod.Post, tags, ImageApiWrite.Tag("app:new", "ImageStreamTag", "app:v1", other), HttpStatusCode.NotFound, "NotFound");
        await Refused(HttpMethod.Put, $"{tags}/app:v1", ImageApiWrite.Tag("app:v1", "ImageStreamTag", "app:v2", resourceVersion: "1"), HttpStatusCode.Conflict, "Conflict");
        await Refused(HttpMethod.Post, tags, ImageApiWrite.Tag("app:v1", "ImageStreamImage", $"app@{v2}"), HttpStatusCode.Conflict, "AlreadyExists");

        // What is not served.
        await Refused(HttpMethod.Put, $"{V1}/namespaces/{ns}/imagestreams", "{}", HttpStatusCode.MethodNotAllowed, "MethodNotAllowed");
        await Refused(HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreams", "{}", (HttpStatusCode)422, "Invalid");
        await Refused(HttpMethod.Delete, tags, "", HttpStatusCode.MethodNotAllowed, "MethodNotAllowed");
        await Refused(HttpMethod.Delete, $"{V1}/namespaces/{ns}/imagestreamimages/app@{v1}", "", HttpStatusCode.MethodNotAllowed, "MethodNotAllowed");
        await Refused(HttpMethod.Delete, $"{V1}/images/{v1}", "", HttpStatusCode.MethodNotAllowed, "MethodNotAllowed");
        await Refused(HttpMethod.Delete, $"{V1}/namespaces/{ns}/imagestreams/Bad", "", HttpStatusCode.BadRequest, "BadRequest");
        await Refused(HttpMethod.Delete, $"{V1}/namespaces/Bad_ns/imagestreamtags/app:v1", "", HttpStatusCode.BadRequest, "BadRequest");

        // Nothing changed: the same tags, the same history, the same version; the other namespace holds nothing.
        Assert.Equal(["v1", "v2"], (await host.Client.ListTagsAsync($"{ns}/app")).Order(StringComparer.Ordinal));
        using var after = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app");
        Assert.Equal(before.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString(), after.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString());
        Assert.Equal(before.RootElement.GetProperty("status").GetRawText(), after.RootElement.GetProperty("status").GetRawText());
        using var elsewhere = await host.Client.GetAsync($"/v2/{other}/app/tags/list");
        Assert.Equal(HttpStatusCode.NotFound, elsewhere.StatusCode);
    }

    [Fact]
    public async Task AWatcherSeesATagMoveAsAModifiedStreamAndAStreamDeleteAsDeleted()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var older = await ImageApi.PushAsync(host.Client, $"{ns}/app", "latest", "w1");
        await ImageApi.PushAsync(host.Client, $"{ns}/app", "latest", "w2");
        using var list = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams");
        var version = list.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString()!;

        using var cts = Bounded.Token();
        using var response = await host.Client.GetAsync($"{V1}/namespaces/{ns}/imagestreams?watch=true&resourceVersion={version}", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));

        using var moved = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, $"{V1}/namespaces/{ns}/imagestreamtags/app:latest", ImageApiWrite.Tag("app:latest", "ImageStreamImage", $"app@{older}"));
        await moved.JsonAsync(HttpStatusCode.OK);

        // The log is fed asynchronously: the pushes' own events may come first.
        while (true)
        {
            var line = await reader.ReadLineAsync(cts.Token) ?? throw new Xunit.Sdk.XunitException("the watch ended");
            using var change = JsonDocument.Parse(line);
            Assert.Equal("MODIFIED", change.RootElement.GetProperty("type").GetString());
            var items = change.RootElement.GetProperty("object").GetProperty("status").GetProperty("tags")[0].GetProperty("items");
            if (items.GetArrayLength() == 3)
            {
                Assert.Equal(older, items[0].GetProperty("image").GetString());
                break;
            }
        }

        // Deleting the stream leaves the repository empty: the watcher sees it go.
        using var deleted = await host.Client.DeleteAsync($"{V1}/namespaces/{ns}/imagestreams/app");
        await deleted.JsonAsync(HttpStatusCode.OK);
        while (true)
        {
            var line = await reader.ReadLineAsync(cts.Token) ?? throw new Xunit.Sdk.XunitException("the watch ended");
            using var change = JsonDocument.Parse(line);
            if (change.RootElement.GetProperty("type").GetString() == "DELETED")
            {
                Assert.Equal("app", change.RootElement.GetProperty("object").GetProperty("metadata").GetProperty("name").GetString());
                break;
            }
        }
    }
}

/// <summary>Requests that change the image API.</summary>
public static class ImageApiWrite
{
    /// <summary>An ImageStreamTag body whose <c>tag.from</c> is <paramref name="kind"/> <paramref name="from"/> (in <paramref name="fromNamespace"/> when given).</summary>
    public static string Tag(string name, string kind, string from, string? fromNamespace = null, string? resourceVersion = null, string? tagName = null, string? bodyNamespace = null)
    {
        var metadata = new Dictionary<string, string> { ["name"] = name };
        if (resourceVersion is not null)
        {
            metadata["resourceVersion"] = resourceVersion;
        }

        if (bodyNamespace is not null)
        {
            metadata["namespace"] = bodyNamespace;
        }

        var source = new Dictionary<string, string> { ["kind"] = kind, ["name"] = from };
        if (fromNamespace is not null)
        {
            source["namespace"] = fromNamespace;
        }

        return JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["kind"] = "ImageStreamTag",
            ["apiVersion"] = "image.openshift.io/v1",
            ["metadata"] = metadata,
            ["tag"] = new Dictionary<string, object> { ["name"] = tagName ?? name[(name.LastIndexOf(':') + 1)..], ["from"] = source },
        });
    }

    public static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, string body, string contentType = "application/json")
    {
        using var request = new HttpRequestMessage(method, path);
        if (body.Length > 0 || method != HttpMethod.Delete)
        {
            request.Content = new StringContent(body, Encoding.UTF8);
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        }

        return await client.SendAsync(request);
    }
}
