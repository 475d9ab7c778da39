using System.Net;
using System.Text.Json;

namespace Registry.Tests;

/// <summary>
/// The image API's writes (ImageStream create, update and patch, ImageStreamTag, ImageStreamMapping)
/// under attack: dry runs it does not serve, JSON patches that grow without bound or reach for the
/// object's name, namespace and status, names no repository can have, resourceVersions this
/// registry never gave, and bodies too large, too deep or of the wrong type. Each refusal is a
/// Kubernetes Status and changes nothing /v2 serves.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ImageApiAttackTests
{
    private const string V1 = ImageApiRoleScene.V1;

    public static TheoryData<string, string, string, string> DryRuns() => new()
    {
        // method, path below the namespace, body, content type
        { "DELETE", "imagestreams/app", "", "application/json" },
        { "DELETE", "imagestreamtags/app:v1", "", "application/json" },
        { "POST", "imagestreamtags", "TAG", "application/json" },
        { "PUT", "imagestreams/app", "STREAM", "application/json" },
        { "PATCH", "imagestreams/app", "[{\"op\":\"add\",\"path\":\"/spec/tags/-\",\"value\":{\"name\":\"next\",\"from\":{\"kind\":\"ImageStreamTag\",\"name\":\"v2\"}}}]", "application/json-patch+json" },
        { "PATCH", "imagestreamtags/app:v1", "{\"tag\":{\"from\":{\"kind\":\"ImageStreamTag\",\"name\":\"v2\"}}}", "application/merge-patch+json" },
        { "POST", "imagestreammappings", "MAPPING", "application/json" },
    };

    [Theory]
    [MemberData(nameof(DryRuns))]
    public async Task AServerDryRunIsRefusedAndChangesNothing(string method, string path, string body, string contentType)
    {
        using var scene = await ImageApiRoleScene.StartAsync("admin");
        var ns = scene.Namespace;
        body = body switch
        {
            "TAG" => ImageApiWrite.Tag("app:new", "ImageStreamImage", $"app@{scene.First}"),
            "STREAM" => SpecStreams.Stream("app", tags: [SpecStreams.Tag("prod", "ImageStreamTag", "v2")]),
            "MAPPING" => ImageApiMapping.Body("app", scene.Second, "v1"),
            _ => body,
        };

        foreach (var dryRun in new[] { "All", "all", "None", "" })
        {
            using var response = await ImageApiWrite.SendAsync(scene.Admin, new HttpMethod(method), $"{V1}/namespaces/{ns}/{path}?dryRun={dryRun}", body, contentType);
            await response.AssertStatusAsync(HttpStatusCode.BadRequest, "BadRequest");
        }

        await AssertUnchangedAsync(scene);
    }

    [Fact]
    public async Task AJsonPatchThatCopiesTheObjectIntoItselfIsRefusedBeforeItGrows()
    {
        using var scene = await ImageApiRoleScene.StartAsync("admin");
        var ns = scene.Namespace;

        // Each copy doubles the spec: 60 of them would be 2^60 copies of it.
        var doubling = "[" + string.Join(",", Enumerable.Range(0, 60).Select(i => $"{{\"op\":\"copy\",\"from\":\"/metadata\",\"path\":\"/metadata/x{i}\"}}")) + "]";
        var doublingSpec = "[{\"op\":\"add\",\"path\":\"/spec/x\",\"value\":{\"a\":\"" + new string('a', 1000) + "\"}}," + string.Join(",", Enumerable.Range(0, 60).Select(i => $"{{\"op\":\"copy\",\"from\":\"/spec\",\"path\":\"/spec/x{i}\"}}")) + "]";
        foreach (var (path, patch) in new[] { ("imagestreams/app", doubling), ("imagestreams/app", doublingSpec), ("imagestreamtags/app:v1", doubling) })
        {
            using var response = await ImageApiWrite.SendAsync(scene.Admin, HttpMethod.Patch, $"{V1}/namespaces/{ns}/{path}", patch, "application/json-patch+json");
            await response.AssertStatusAsync(HttpStatusCode.RequestEntityTooLarge, "RequestEntityTooLarge");
        }

        await AssertUnchangedAsync(scene);
    }

    public static TheoryData<string, string, string, HttpStatusCode> NamePatches() => new()
    {
        // path below the namespace, patch, content type, expected
        { "imagestreams/app", "[{\"op\":\"replace\",\"path\":\"/metadata/name\",\"value\":\"other\"}]", "application/json-patch+json", HttpStatusCode.BadRequest },
        { "imagestreams/app", "[{\"op\":\"replace\",\"path\":\"/metadata/namespace\",\"value\":\"kube-system\"}]", "application/json-patch+json", HttpStatusCode.BadRequest },
        { "imagestreams/app", "{\"metadata\":{\"name\":\"other\"}}", "application/merge-patch+json", HttpStatusCode.BadRequest },
        { "imagestreams/app", "{\"metadata\":{\"namespace\":\"kube-system\"}}", "application/strategic-merge-patch+json", HttpStatusCode.BadRequest },
        { "imagestreams/app", "[{\"op\":\"replace\",\"path\":\"/kind\",\"value\":\"ImageStreamTag\"}]", "application/json-patch+json", (HttpStatusCode)422 },
        { "imagestreams/app", "[{\"op\":\"replace\",\"path\":\"\",\"value\":[]}]", "application/json-patch+json", HttpStatusCode.BadRequest },
        { "imagestreams/app", "[{\"op\":\"remove\",\"path\":\"/metadata/name/x\"}]", "application/json-patch+json", (HttpStatusCode)422 },
        { "imagestreams/app", "[{\"op\":\"add\",\"path\":\"/spec/tags/99999999999\",\"value\":{}}]", "application/json-patch+json", (HttpStatusCode)422 },
        { "imagestreams/app", "[{\"op\":\"add\",\"path\":\"/spec/tags/-1\",\"value\":{}}]", "application/json-patch+json", (HttpStatusCode)422 },
        { "imagestreamtags/app:v1", "[{\"op\":\"replace\",\"path\":\"/metadata/name\",\"value\":\"app:v2\"}]", "application/json-patch+json", HttpStatusCode.BadRequest },
        { "imagestreamtags/app:v1", "{\"metadata\":{\"namespace\":\"other\"}}", "application/merge-patch+json", HttpStatusCode.BadRequest },
    };

    [Theory]
    [MemberData(nameof(NamePatches))]
    public async Task PatchesThatRenameOrMoveTheObjectOrNameNothingAreRefused(string path, string patch, string contentType, HttpStatusCode expected)
    {
        using var scene = await ImageApiRoleScene.StartAsync("admin");

        using var response = await ImageApiWrite.SendAsync(scene.Admin, HttpMethod.Patch, $"{V1}/namespaces/{scene.Namespace}/{path}", patch, contentType);

        await response.AssertStatusAsync(expected, expected == HttpStatusCode.BadRequest ? "BadRequest" : "Invalid");
        await AssertUnchangedAsync(scene);
    }

    [Fact]
    public async Task PatchesOfStatusOrOfTheImageMoveNoTag()
    {
        using var scene = await ImageApiRoleScene.StartAsync("admin");
        var ns = scene.Namespace;
        var evil = "{\"tag\":\"evil\",\"items\":[{\"created\":\"2020-01-01T00:00:00Z\",\"dockerImageReference\":\"x\",\"image\":\"" + scene.Second + "\",\"generation\":1}]}";
        foreach (var (path, patch, contentType) in new[]
        {
            ("imagestreams/app", "[{\"op\":\"add\",\"path\":\"/status/tags/-\",\"value\":" + evil + "}]", "application/json-patch+json"),
            ("imagestreams/app", "{\"status\":{\"tags\":[" + evil.Replace("evil", "v1", StringComparison.Ordinal) + "]}}", "application/merge-patch+json"),
            ("imagestreamtags/app:v1", "{\"image\":{\"metadata\":{\"name\":\"" + scene.Second + "\"}}}", "application/merge-patch+json"),
        })
        {
            // The server owns status and image: ignored (200), or the write they leave is refused as incomplete (422).
            using var response = await ImageApiWrite.SendAsync(scene.Admin, HttpMethod.Patch, $"{V1}/namespaces/{ns}/{path}", patch, contentType);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                await response.AssertStatusAsync((HttpStatusCode)422, "Invalid");
            }
        }

        await AssertUnchangedAsync(scene);
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("a/b")]
    [InlineData("UPPER")]
    [InlineData("a~~b")]
    [InlineData("~a")]
    [InlineData("a~")]
    [InlineData("a\n")]
    [InlineData(".hidden")]
    [InlineData("a..b")]
    [InlineData("LONG")]
    public async Task StreamNamesNoRepositoryCanHaveAreInvalid(string name)
    {
        using var scene = await ImageApiRoleScene.StartAsync("admin");
        name = name == "LONG" ? new string('a', 256) : name;

        using (var created = await ImageApiWrite.SendAsync(scene.Admin, HttpMethod.Post, $"{V1}/namespaces/{scene.Namespace}/imagestreams", SpecStreams.Stream(name)))
        {
            await created.AssertStatusAsync((HttpStatusCode)422, "Invalid");
        }

        using (var tagged = await ImageApiWrite.SendAsync(scene.Admin, HttpMethod.Post, $"{V1}/namespaces/{scene.Namespace}/imagestreamtags", ImageApiWrite.Tag($"{name}:v1", "ImageStreamImage", $"app@{scene.First}")))
        {
            await tagged.AssertStatusAsync((HttpStatusCode)422, "Invalid");
        }

        using (var mapped = await ImageApiWrite.SendAsync(scene.Admin, HttpMethod.Post, $"{V1}/namespaces/{scene.Namespace}/imagestreammappings", ImageApiMapping.Body(name, scene.First, "v1")))
        {
            await mapped.AssertStatusAsync((HttpStatusCode)422, "Invalid");
        }

        await AssertUnchangedAsync(scene);
    }

    [Theory]
    [InlineData("a_b")]
    [InlineData("UPPER")]
    [InlineData("a%0A")]
    [InlineData("-a")]
    public async Task NamespacesThatAreNoDnsLabelsAreRefused(string ns)
    {
        using var scene = await ImageApiRoleScene.StartAsync("admin");

        using var response = await ImageApiWrite.SendAsync(scene.Admin, HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreams", SpecStreams.Stream("app"));

        await response.AssertStatusAsync(HttpStatusCode.BadRequest, "BadRequest");
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("1e3")]
    [InlineData(" 1")]
    [InlineData("+1")]
    [InlineData("0x10")]
    [InlineData("99999999999999999999")]
    public async Task ResourceVersionsThisRegistryNeverGaveAreInvalid(string version)
    {
        using var scene = await ImageApiRoleScene.StartAsync("admin");
        var ns = scene.Namespace;

        using (var stream = await ImageApiWrite.SendAsync(scene.Admin, HttpMethod.Put, $"{V1}/namespaces/{ns}/imagestreams/app", SpecStreams.Stream("app", resourceVersion: version, tags: [SpecStreams.Tag("prod", "ImageStreamTag", "v2")])))
        {
            await stream.AssertStatusAsync((HttpStatusCode)422, "Invalid");
        }

        using (var tag = await ImageApiWrite.SendAsync(scene.Admin, HttpMethod.Put, $"{V1}/namespaces/{ns}/imagestreamtags/app:v1", ImageApiWrite.Tag("app:v1", "ImageStreamImage", $"app@{scene.Second}", resourceVersion: version)))
        {
            await tag.AssertStatusAsync((HttpStatusCode)422, "Invalid");
        }

        using (var patch = await ImageApiWrite.SendAsync(scene.Admin, HttpMethod.Patch, $"{V1}/namespaces/{ns}/imagestreams/app", $"{{\"metadata\":{{\"resourceVersion\":{JsonSerializer.Serialize(version)}}},\"spec\":{{\"tags\":[{{\"name\":\"prod\",\"from\":{{\"kind\":\"ImageStreamTag\",\"name\":\"v2\"}}}}]}}}}", "application/merge-patch+json"))
        {
            await patch.AssertStatusAsync((HttpStatusCode)422, "Invalid");
        }

        // A version it gave, but not the stream's latest, is a conflict.
        var read = await (await scene.Admin.GetAsync($"{V1}/namespaces/{ns}/imagestreams/app")).JsonAsync(HttpStatusCode.OK);
        var current = long.Parse(read.GetProperty("metadata").GetProperty("resourceVersion").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        using (var stale = await ImageApiWrite.SendAsync(scene.Admin, HttpMethod.Put, $"{V1}/namespaces/{ns}/imagestreams/app", SpecStreams.Stream("app", resourceVersion: (current - 1).ToString(System.Globalization.CultureInfo.InvariantCulture), tags: [SpecStreams.Tag("prod", "ImageStreamTag", "v2")])))
        {
            await stale.AssertStatusAsync(HttpStatusCode.Conflict, "Conflict");
        }

        await AssertUnchangedAsync(scene);
    }

    [Fact]
    public async Task BodiesTooLargeTooDeepOrOfAnotherTypeAreRefused()
    {
        using var scene = await ImageApiRoleScene.StartAsync("admin");
        var ns = scene.Namespace;
        var streams = $"{V1}/namespaces/{ns}/imagestreams";
        var large = SpecStreams.Stream("big", annotations: new Dictionary<string, string> { ["a"] = new string('a', 64 * 1024) });
        var deep = "{\"kind\":\"ImageStream\",\"apiVersion\":\"image.openshift.io/v1\",\"metadata\":{\"name\":\"deep\",\"annotations\":" + new string('[', 5000) + new string(']', 5000) + "}}";
        var cases = new (HttpMethod Method, string Path, string Body, string Type, HttpStatusCode Code, string Reason)[]
        {
            (HttpMethod.Post, streams, large, "application/json", HttpStatusCode.RequestEntityTooLarge, "RequestEntityTooLarge"),
            (HttpMethod.Post, streams, deep, "application/json", HttpStatusCode.BadRequest, "BadRequest"),
            (HttpMethod.Post, streams, SpecStreams.Stream("plain"), "text/plain", HttpStatusCode.UnsupportedMediaType, "UnsupportedMediaType"),
            (HttpMethod.Post, streams, "kind: ImageStream", "application/yaml", HttpStatusCode.UnsupportedMediaType, "UnsupportedMediaType"),
            (HttpMethod.Post, streams, "[]", "application/json", HttpStatusCode.BadRequest, "BadRequest"),
            (HttpMethod.Patch, $"{streams}/app", "[" + string.Join(",", Enumerable.Repeat("{\"op\":\"test\",\"path\":\"/kind\",\"value\":\"ImageStream\"}", 1001)) + "]", "application/json-patch+json", HttpStatusCode.RequestEntityTooLarge, "RequestEntityTooLarge"),
            (HttpMethod.Patch, $"{streams}/app", "{\"spec\":" + new string('[', 5000) + new string(']', 5000) + "}", "application/merge-patch+json", HttpStatusCode.BadRequest, "BadRequest"),
            (HttpMethod.Patch, $"{streams}/app", "{\"spec\":{}}", "application/apply-patch+yaml", HttpStatusCode.UnsupportedMediaType, "UnsupportedMediaType"),
            (HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreammappings", "{\"kind\":\"ImageStreamMapping\",\"apiVersion\":\"image.openshift.io/v1\",\"metadata\":{\"name\":\"app\"},\"image\":{\"metadata\":{\"name\":\"" + scene.First + "\"},\"dockerImageManifest\":\"" + new string('x', 70 * 1024) + "\"}}", "application/json", HttpStatusCode.RequestEntityTooLarge, "RequestEntityTooLarge"),
        };
        foreach (var (method, path, body, type, code, reason) in cases)
        {
            using var response = await ImageApiWrite.SendAsync(scene.Admin, method, path, body, type);
            await response.AssertStatusAsync(code, reason);
        }

        // Chunked bodies that never end are answered once the limit is passed, not read to their end.
        foreach (var (method, path) in new[] { ("POST", streams), ("PUT", $"{streams}/app"), ("PATCH", $"{streams}/app"), ("POST", $"{V1}/namespaces/{ns}/imagestreamtags"), ("POST", $"{V1}/namespaces/{ns}/imagestreammappings") })
        {
            var (status, sent) = await RawHttp.SendEndlessChunkedAsync(scene.Host, method, path, PolicyRegistry.Admin, method == "PATCH" ? "application/merge-patch+json" : "application/json");
            Assert.Equal(413, status);
            Assert.True(sent < 64L * 1024 * 1024, $"{method} {path}: {sent} bytes were sent before the answer");
        }

        await AssertUnchangedAsync(scene);
    }

    /// <summary>What /v2 serves is what the scene pushed: app:v1 and app:v2 at their images, and no other repository of the namespace.</summary>
    private static async Task AssertUnchangedAsync(ImageApiRoleScene scene)
    {
        var ns = scene.Namespace;
        Assert.Equal(["v1", "v2"], (await scene.Admin.ListTagsAsync($"{ns}/app")).Order(StringComparer.Ordinal));
        Assert.Equal(scene.First, (await scene.Admin.GetManifestAsync($"{ns}/app", "v1")).Digest);
        Assert.Equal(scene.Second, (await scene.Admin.GetManifestAsync($"{ns}/app", "v2")).Digest);
        var list = await (await scene.Admin.GetAsync($"{V1}/namespaces/{ns}/imagestreams")).JsonAsync(HttpStatusCode.OK);
        var names = list.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("metadata").GetProperty("name").GetString()!).ToArray();
        Assert.Equal(["app"], names);
        var stream = list.GetProperty("items")[0];
        Assert.False(stream.TryGetProperty("spec", out var spec) && spec.TryGetProperty("tags", out var tags) && tags.GetArrayLength() > 0, $"spec tags were stored: {stream}");
        Assert.DoesNotContain("x0", stream.GetProperty("metadata").ToString(), StringComparison.Ordinal);
    }
}
