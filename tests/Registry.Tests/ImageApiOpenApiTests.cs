using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Registry.Tests;

/// <summary>
/// <c>/openapi/v2</c> and <c>/openapi/v3</c> of the image API: what kubectl reads to validate and
/// explain the resources (kinds, fields, the PATCH with <c>fieldValidation</c>), caching by hash.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ImageApiOpenApiTests
{
    private const string GroupPath = "/openapi/v3/apis/image.openshift.io/v1";

    private static readonly string[] Kinds = ["ImageStream", "ImageStreamList", "ImageStreamTag", "ImageStreamTagList", "ImageStreamImage", "Image", "ImageList"];

    [Fact]
    public async Task V2IsJsonWithEveryKindAndRefusesAClientThatAcceptsOnlyProtobuf()
    {
        var host = await SharedRegistry.GetAsync();
        using var response = await host.Client.GetAsync("/openapi/v2");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = document.RootElement;
        Assert.Equal("2.0", root.GetProperty("swagger").GetString());
        var definitions = root.GetProperty("definitions");
        AssertKinds(definitions);
        AssertRefsResolve(root, "#/definitions/", definitions);
        Assert.True(definitions.TryGetProperty("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", out _));
        Assert.True(definitions.TryGetProperty("io.k8s.apimachinery.pkg.apis.meta.v1.Status", out _));

        // The same document again: 304 on its ETag.
        using var again = new HttpRequestMessage(HttpMethod.Get, "/openapi/v2");
        again.Headers.IfNoneMatch.Add(response.Headers.ETag!);
        using var notModified = await host.Client.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);

        // kubectl asks for protobuf first; only protobuf is 406 (a Status), JSON among others is served.
        using var protobuf = new HttpRequestMessage(HttpMethod.Get, "/openapi/v2");
        protobuf.Headers.TryAddWithoutValidation("Accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf");
        using var refused = await host.Client.SendAsync(protobuf);
        Assert.Equal(HttpStatusCode.NotAcceptable, refused.StatusCode);
        using var status = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
        Assert.Equal("NotAcceptable", status.RootElement.GetProperty("reason").GetString());
        using var either = new HttpRequestMessage(HttpMethod.Get, "/openapi/v2");
        either.Headers.TryAddWithoutValidation("Accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf, application/json;q=0.9");
        using var served = await host.Client.SendAsync(either);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    [Fact]
    public async Task V3IndexPointsAtTheGroupDocumentUnderItsHash()
    {
        var host = await SharedRegistry.GetAsync();
        using var index = await ImageApi.GetJsonAsync(host.Client, "/openapi/v3");
        var url = index.RootElement.GetProperty("paths").GetProperty("apis/image.openshift.io/v1").GetProperty("serverRelativeURL").GetString()!;
        Assert.StartsWith(GroupPath + "?hash=", url, StringComparison.Ordinal);
        var hash = url[(url.IndexOf('=', StringComparison.Ordinal) + 1)..];
        Assert.Matches("^[0-9A-F]{128}$", hash);

        using var current = await host.Client.GetAsync(url);
        Assert.Equal(HttpStatusCode.OK, current.StatusCode);
        Assert.Equal($"\"{hash}\"", current.Headers.ETag?.Tag);
        Assert.Contains("immutable", current.Headers.CacheControl?.ToString(), StringComparison.Ordinal);
        using var document = JsonDocument.Parse(await current.Content.ReadAsStringAsync());
        var root = document.RootElement;
        Assert.StartsWith("3.", root.GetProperty("openapi").GetString(), StringComparison.Ordinal);
        var schemas = root.GetProperty("components").GetProperty("schemas");
        AssertKinds(schemas);
        AssertRefsResolve(root, "#/components/schemas/", schemas);

        // Without a hash: the same bytes, not cacheable for long; with If-None-Match: 304.
        using var unhashed = await host.Client.GetAsync(GroupPath);
        Assert.Equal(HttpStatusCode.OK, unhashed.StatusCode);
        Assert.Equal(await current.Content.ReadAsByteArrayAsync(), await unhashed.Content.ReadAsByteArrayAsync());
        Assert.Contains("no-cache", unhashed.Headers.CacheControl?.ToString(), StringComparison.Ordinal);
        using var conditional = new HttpRequestMessage(HttpMethod.Get, url);
        conditional.Headers.IfNoneMatch.Add(new EntityTagHeaderValue($"\"{hash}\""));
        using var notModified = await host.Client.SendAsync(conditional);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);

        // An old hash: a permanent redirect to the current one (not followed, to see it).
        using var noRedirects = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = host.BaseAddress };
        using var old = await noRedirects.GetAsync(GroupPath + "?hash=0123ABCD");
        Assert.Equal(HttpStatusCode.MovedPermanently, old.StatusCode);
        Assert.Equal(url, old.Headers.Location?.OriginalString);

        await ImageApi.AssertStatusAsync(host.Client, "/openapi/v3/apis/other.example/v1", 404, "NotFound");
    }

    [Fact]
    public async Task V3DescribesThePathsKubectlLooksUp()
    {
        var host = await SharedRegistry.GetAsync();
        using var document = await ImageApi.GetJsonAsync(host.Client, GroupPath);
        var paths = document.RootElement.GetProperty("paths");
        var stream = paths.GetProperty("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams/{name}");

        // kubectl leaves field validation to a server whose PATCH of the kind takes fieldValidation.
        var patch = stream.GetProperty("patch");
        Assert.Equal("ImageStream", patch.GetProperty("x-kubernetes-group-version-kind").GetProperty("kind").GetString());
        Assert.Contains(patch.GetProperty("parameters").EnumerateArray(), p => p.GetProperty("name").GetString() == "fieldValidation" && p.GetProperty("in").GetString() == "query");
        Assert.True(paths.TryGetProperty("/apis/image.openshift.io/v1/imagestreams", out var across));
        Assert.Contains(across.GetProperty("get").GetProperty("parameters").EnumerateArray(), p => p.GetProperty("name").GetString() == "allowWatchBookmarks");
        Assert.True(paths.TryGetProperty("/apis/image.openshift.io/v1/images/{name}", out _));
        Assert.True(paths.TryGetProperty("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamimages/{name}", out _));

        var spec = document.RootElement.GetProperty("components").GetProperty("schemas").GetProperty("com.github.openshift.api.image.v1.ImageStreamSpec").GetProperty("properties");
        Assert.Equal(["dockerImageRepository", "lookupPolicy", "tags"], spec.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
    }

    private static void AssertKinds(JsonElement schemas)
    {
        var kinds = schemas.EnumerateObject()
            .Where(s => s.Value.TryGetProperty("x-kubernetes-group-version-kind", out _))
            .SelectMany(s => s.Value.GetProperty("x-kubernetes-group-version-kind").EnumerateArray())
            .Where(g => g.GetProperty("group").GetString() == "image.openshift.io" && g.GetProperty("version").GetString() == "v1")
            .Select(g => g.GetProperty("kind").GetString())
            .ToHashSet();
        Assert.All(Kinds, k => Assert.Contains(k, kinds));
        Assert.Contains(schemas.EnumerateObject(), s => s.Value.TryGetProperty("x-kubernetes-group-version-kind", out var g) && g[0].GetProperty("kind").GetString() == "Status");
    }

    /// <summary>Every <c>$ref</c> in the document names a schema it defines.</summary>
    private static void AssertRefsResolve(JsonElement root, string prefix, JsonElement schemas)
    {
        var refs = new List<string>();
        void Walk(JsonElement e)
        {
            if (e.ValueKind == JsonValueKind.Object)
            {
                foreach (var p in e.EnumerateObject())
                {
                    if (p.Name == "$ref")
                    {
                        refs.Add(p.Value.GetString()!);
                    }
                    else
                    {
                        Walk(p.Value);
                    }
                }
            }
            else if (e.ValueKind == JsonValueKind.Array)
            {
                foreach (var i in e.EnumerateArray())
                {
                    Walk(i);
                }
            }
        }

        Walk(root);
        Assert.NotEmpty(refs);
        Assert.All(refs, r => Assert.True(r.StartsWith(prefix, StringComparison.Ordinal) && schemas.TryGetProperty(r[prefix.Length..], out _), $"{r} does not resolve"));
    }
}

/// <summary>
/// Server-side field validation (<c>?fieldValidation=Strict|Warn|Ignore</c>) of writes to the image
/// API: unknown and duplicate fields named by their paths, and nothing stored for a refused body.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ImageApiFieldValidationTests
{
    private const string V1 = "/apis/image.openshift.io/v1";

    private static string Stream(string extra = "", string name = "app")
        => """{"apiVersion":"image.openshift.io/v1","kind":"ImageStream","metadata":{"name":""" + "\"" + name + "\"" + ""","labels":{"any":"thing"}},"spec":{"lookupPolicy":{"local":false},"tags":[{"name":"v1","from":{"kind":"DockerImage","name":"x"}""" + extra + "}]}}";

    [Fact]
    public async Task StrictRefusesUnknownAndDuplicateFieldsByTheirPaths()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var body = """{"apiVersion":"image.openshift.io/v1","kind":"ImageStream","metadata":{"name":"app","name":"app"},"spec":{"x":1,"tags":[{"name":"v1","bogus":true}]},"Status":{}}""";
        var (status, json, _) = await SendAsync(host, HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreams?fieldValidation=Strict", body);
        Assert.Equal(400, status);
        Assert.Equal("BadRequest", json.GetProperty("reason").GetString());
        Assert.Equal("ImageStream in version \"v1\" cannot be handled as a ImageStream: strict decoding error: duplicate field \"metadata.name\", unknown field \"spec.x\", unknown field \"spec.tags[0].bogus\", unknown field \"Status\"", json.GetProperty("message").GetString());

        // Free-form parts and maps are not checked field by field; a valid body passes (and creates the stream).
        (status, json, _) = await SendAsync(host, HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreams?fieldValidation=Strict", Stream());
        Assert.Equal(201, status);

        // An image stream tag is checked against its own schema, an update and a merge patch too.
        (status, json, _) = await SendAsync(host, HttpMethod.Put, $"{V1}/namespaces/{ns}/imagestreamtags/app:v1?fieldValidation=Strict", """{"kind":"ImageStreamTag","tag":{"name":"v1","form":{}},"image":{"dockerImageMetadata":{"Anything":1}}}""");
        Assert.Equal(400, status);
        Assert.EndsWith("strict decoding error: unknown field \"tag.form\"", json.GetProperty("message").GetString(), StringComparison.Ordinal);
        (status, json, _) = await SendAsync(host, HttpMethod.Patch, $"{V1}/namespaces/{ns}/imagestreams/app?fieldValidation=Strict", """{"spec":{"lookupPolicy":{"locale":true}}}""", "application/merge-patch+json");
        Assert.Equal(400, status);
        Assert.EndsWith("unknown field \"spec.lookupPolicy.locale\"", json.GetProperty("message").GetString(), StringComparison.Ordinal);

        // Nothing was stored by the refused ones: the stream is as created.
        using var stream = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app");
        Assert.Equal(["v1"], stream.RootElement.GetProperty("spec").GetProperty("tags").EnumerateArray().Select(t => t.GetProperty("name").GetString()));
        Assert.Equal(0, stream.RootElement.GetProperty("status").GetProperty("tags").GetArrayLength());
    }

    [Fact]
    public async Task WarnIsTheDefaultAndIgnoreSaysNothing()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var (status, _, warnings) = await SendAsync(host, HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreams", Stream(""",  "y":1"""));
        Assert.Equal(201, status);
        Assert.Equal(["299 - \"unknown field \\\"spec.tags[0].y\\\"\""], warnings);

        (status, _, warnings) = await SendAsync(host, HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreams?fieldValidation=Warn", Stream(""","y":1,"z":2""", "two"));
        Assert.Equal(2, warnings.Length);

        (status, _, warnings) = await SendAsync(host, HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreams?fieldValidation=Ignore", Stream(""","y":1""", "three"));
        Assert.Equal(201, status);
        Assert.Empty(warnings);
    }

    [Fact]
    public async Task BadDirectivesBodiesAndFieldNamesAreRefusedOrDefused()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var path = $"{V1}/namespaces/{ns}/imagestreams";
        var (status, json, _) = await SendAsync(host, HttpMethod.Post, path + "?fieldValidation=strict", Stream());
        Assert.Equal(400, status);
        Assert.Contains("Ignore, Warn or Strict", json.GetProperty("message").GetString(), StringComparison.Ordinal);

        (status, json, _) = await SendAsync(host, HttpMethod.Post, path + "?fieldValidation=Strict", "{\"spec\":");
        Assert.Equal(400, status);
        Assert.StartsWith("the request body is not valid JSON", json.GetProperty("message").GetString(), StringComparison.Ordinal);

        // A body beyond the limit (3 MiB) is 413, whatever it holds.
        var huge = "{\"metadata\":{\"annotations\":{\"a\":\"" + new string('x', 3 * 1024 * 1024) + "\"}}}";
        (status, json, _) = await SendAsync(host, HttpMethod.Post, path + "?fieldValidation=Strict", huge);
        Assert.Equal(413, status);
        Assert.Equal("RequestEntityTooLarge", json.GetProperty("reason").GetString());

        // Header injection through a field name: control characters are escaped, not sent.
        (status, _, var warnings) = await SendAsync(host, HttpMethod.Post, path, "{\"spec\":{\"a\\r\\nSet-Cookie: x=1\":1}}");
        Assert.Equal(422, status);
        var warning = Assert.Single(warnings);
        Assert.Contains("a\\\\u000d\\\\u000aSet-Cookie: x=1", warning, StringComparison.Ordinal);

        // Many unknown fields: at most 50 are named.
        var many = "{" + string.Join(',', Enumerable.Range(0, 500).Select(i => $"\"f{i}\":1")) + "}";
        (status, json, _) = await SendAsync(host, HttpMethod.Post, path + "?fieldValidation=Strict", many);
        Assert.Equal(400, status);
        Assert.Equal(50, json.GetProperty("message").GetString()!.Split("unknown field").Length - 1);

        await ImageApi.AssertStatusAsync(host.Client, $"{path}/app", 404, "NotFound");
    }

    private static async Task<(int Status, JsonElement Json, string[] Warnings)> SendAsync(RegistryHost host, HttpMethod method, string path, string body, string contentType = "application/json")
    {
        using var request = new HttpRequestMessage(method, path) { Content = new StringContent(body, Encoding.UTF8) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        using var response = await host.Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var warnings = response.Headers.TryGetValues("Warning", out var values) ? values.ToArray() : [];
        return ((int)response.StatusCode, JsonDocument.Parse(text).RootElement.Clone(), warnings);
    }
}
