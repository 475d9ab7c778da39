using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Registry.Api;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>
/// The image API (image.openshift.io/v1) over plain HTTP against the shared registry: discovery,
/// every verb served, the name mapping, tag history, image metadata, tables and every error as a
/// Kubernetes Status. Each test has its own namespace.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ImageApiTests
{
    private const string V1 = "/apis/image.openshift.io/v1";

    [Fact]
    public async Task DiscoveryNamesTheGroupItsResourcesAndTheVersion()
    {
        var host = await SharedRegistry.GetAsync();
        using var groups = await ImageApi.GetJsonAsync(host.Client, "/apis");
        var group = Assert.Single(groups.RootElement.GetProperty("groups").EnumerateArray());
        Assert.Equal("image.openshift.io", group.GetProperty("name").GetString());
        Assert.Equal("image.openshift.io/v1", group.GetProperty("preferredVersion").GetProperty("groupVersion").GetString());

        using var resources = await ImageApi.GetJsonAsync(host.Client, V1);
        Assert.Equal("APIResourceList", resources.RootElement.GetProperty("kind").GetString());
        var byName = resources.RootElement.GetProperty("resources").EnumerateArray().ToDictionary(r => r.GetProperty("name").GetString()!);
        Assert.Equal(["images", "imagestreamimages", "imagestreammappings", "imagestreams", "imagestreams/layers", "imagestreamtags"], byName.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("is", byName["imagestreams"].GetProperty("shortNames")[0].GetString());
        Assert.Equal("istag", byName["imagestreamtags"].GetProperty("shortNames")[0].GetString());
        Assert.Equal("isimage", byName["imagestreamimages"].GetProperty("shortNames")[0].GetString());
        Assert.True(byName["imagestreams"].GetProperty("namespaced").GetBoolean());
        Assert.False(byName["images"].GetProperty("namespaced").GetBoolean());
        Assert.Equal("ImageStreamTag", byName["imagestreamtags"].GetProperty("kind").GetString());
        Assert.Equal(["get", "list", "watch", "create", "update", "patch", "delete"], byName["imagestreams"].GetProperty("verbs").EnumerateArray().Select(v => v.GetString()));
        Assert.Equal(["create"], byName["imagestreammappings"].GetProperty("verbs").EnumerateArray().Select(v => v.GetString()));
        Assert.Equal(["get"], byName["imagestreams/layers"].GetProperty("verbs").EnumerateArray().Select(v => v.GetString()));
        Assert.Equal(["get", "list", "create", "update", "patch", "delete"], byName["imagestreamtags"].GetProperty("verbs").EnumerateArray().Select(v => v.GetString()));
        Assert.Equal(["get", "list", "watch"], byName["images"].GetProperty("verbs").EnumerateArray().Select(v => v.GetString()));

        using var core = await ImageApi.GetJsonAsync(host.Client, "/api");
        Assert.Equal("v1", core.RootElement.GetProperty("versions")[0].GetString());
        using var coreResources = await ImageApi.GetJsonAsync(host.Client, "/api/v1");
        Assert.Equal("namespaces", coreResources.RootElement.GetProperty("resources")[0].GetProperty("name").GetString());
        using var version = await ImageApi.GetJsonAsync(host.Client, "/version");
        Assert.Equal("1", version.RootElement.GetProperty("major").GetString());
    }

    [Fact]
    public async Task StreamShowsEachTagsHistoryNewestFirstWithTheRepositoryAsItsName()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var first = await ImageApi.PushAsync(host.Client, $"{ns}/app", "latest", "one");
        var v1 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "v1");
        var second = await ImageApi.PushAsync(host.Client, $"{ns}/app", "latest", "two");

        using var stream = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app");
        var root = stream.RootElement;
        Assert.Equal("ImageStream", root.GetProperty("kind").GetString());
        Assert.Equal("image.openshift.io/v1", root.GetProperty("apiVersion").GetString());
        var meta = root.GetProperty("metadata");
        Assert.Equal("app", meta.GetProperty("name").GetString());
        Assert.Equal(ns, meta.GetProperty("namespace").GetString());
        Assert.True(Guid.TryParse(meta.GetProperty("uid").GetString(), out _));
        Assert.True(long.Parse(meta.GetProperty("resourceVersion").GetString()!, System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.True(DateTimeOffset.UtcNow - DateTimeOffset.Parse(meta.GetProperty("creationTimestamp").GetString()!, System.Globalization.CultureInfo.InvariantCulture) < TimeSpan.FromMinutes(5));

        var status = root.GetProperty("status");
        Assert.Equal($"{host.Authority}/{ns}/app", status.GetProperty("dockerImageRepository").GetString());
        Assert.False(status.TryGetProperty("publicDockerImageRepository", out _));
        var tags = status.GetProperty("tags").EnumerateArray().ToDictionary(t => t.GetProperty("tag").GetString()!, t => t.GetProperty("items").EnumerateArray().ToArray());
        Assert.Equal(["latest", "v1"], tags.Keys.Order(StringComparer.Ordinal));
        Assert.Equal([second, first], tags["latest"].Select(i => i.GetProperty("image").GetString()));
        Assert.Equal($"{host.Authority}/{ns}/app@{second}", tags["latest"][0].GetProperty("dockerImageReference").GetString());
        Assert.True(tags["latest"][0].GetProperty("generation").GetInt64() > tags["latest"][1].GetProperty("generation").GetInt64());
        Assert.Equal(v1, Assert.Single(tags["v1"]).GetProperty("image").GetString());
        Assert.NotEmpty(tags["latest"][0].GetProperty("created").GetString()!);

        // Another push: a newer resourceVersion, the same object.
        await ImageApi.PushAsync(host.Client, $"{ns}/app", "v2", "v2");
        using var after = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app");
        var afterMeta = after.RootElement.GetProperty("metadata");
        Assert.True(long.Parse(afterMeta.GetProperty("resourceVersion").GetString()!, System.Globalization.CultureInfo.InvariantCulture) > long.Parse(meta.GetProperty("resourceVersion").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(meta.GetProperty("uid").GetString(), afterMeta.GetProperty("uid").GetString());
        Assert.Equal(3, after.RootElement.GetProperty("status").GetProperty("tags").GetArrayLength());
    }

    [Fact]
    public async Task DeeperRepositoriesAreStreamsWithTildesAndNamesThatDoNotFitAreNotStreams()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        await ImageApi.PushAsync(host.Client, $"{ns}/tools/build/base", "v1", "deep");
        await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "app");
        await ImageApi.PushAsync(host.Client, $"{ns}_x/app", "v1", "underscore");

        using var deep = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/tools~build~base");
        Assert.Equal("tools~build~base", deep.RootElement.GetProperty("metadata").GetProperty("name").GetString());
        Assert.Equal($"{host.Authority}/{ns}/tools/build/base", deep.RootElement.GetProperty("status").GetProperty("dockerImageRepository").GetString());

        using var list = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams");
        Assert.Equal(["app", "tools~build~base"], list.RootElement.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("metadata").GetProperty("name").GetString()));

        // "ns_x" is a repository's first component but no Kubernetes namespace: not addressable, not listed.
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}_x/imagestreams/app", 400, "BadRequest");
        using var all = await ImageApi.GetJsonAsync(host.Client, $"{V1}/imagestreams");
        Assert.DoesNotContain(all.RootElement.GetProperty("items").EnumerateArray(), i => i.GetProperty("metadata").GetProperty("namespace").GetString() == $"{ns}_x");
        Assert.Contains(all.RootElement.GetProperty("items").EnumerateArray(), i => i.GetProperty("metadata").GetProperty("name").GetString() == "tools~build~base");

        // A name that maps to no repository name is refused, not looked up.
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/Tools", 400, "BadRequest");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/tools~~build", 400, "BadRequest");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/~app", 400, "BadRequest");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/tools~build", 404, "NotFound");
    }

    [Fact]
    public async Task ImageStreamTagCarriesTheImageWithMetadataFromItsConfigKeptByTheImageGrain()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var pushed = await ImageApi.PushDetailedAsync(host.Client, $"{ns}/app", "v1", "meta");

        using var istag = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreamtags/app:v1");
        var root = istag.RootElement;
        Assert.Equal("ImageStreamTag", root.GetProperty("kind").GetString());
        Assert.Equal("app:v1", root.GetProperty("metadata").GetProperty("name").GetString());
        var image = root.GetProperty("image");
        Assert.Equal(pushed.Digest, image.GetProperty("metadata").GetProperty("name").GetString());
        Assert.Equal($"{host.Authority}/{ns}/app@{pushed.Digest}", image.GetProperty("dockerImageReference").GetString());
        Assert.Equal(Oci.ManifestType, image.GetProperty("dockerImageManifestMediaType").GetString());
        var layers = image.GetProperty("dockerImageLayers").EnumerateArray().ToArray();
        Assert.Equal(pushed.Layers.Select(l => (Oci.Digest(l), (long)l.Length)), layers.Select(l => (l.GetProperty("name").GetString()!, l.GetProperty("size").GetInt64())));
        Assert.All(layers, l => Assert.Equal(Oci.LayerType, l.GetProperty("mediaType").GetString()));

        var metadata = image.GetProperty("dockerImageMetadata");
        Assert.Equal("arm64", metadata.GetProperty("Architecture").GetString());
        Assert.Equal("linux", metadata.GetProperty("Os").GetString());
        Assert.Equal("2024-02-03T04:05:06Z", metadata.GetProperty("Created").GetString());
        Assert.Equal(Oci.Digest(pushed.Config), metadata.GetProperty("Id").GetString());
        Assert.Equal(pushed.Config.Length + pushed.Layers.Sum(l => l.Length), metadata.GetProperty("Size").GetInt64());
        var config = metadata.GetProperty("Config");
        Assert.Equal(["PATH=/usr/bin", "MODE=meta"], config.GetProperty("Env").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["serve"], config.GetProperty("Cmd").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["/entry"], config.GetProperty("Entrypoint").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("meta", config.GetProperty("Labels").GetProperty("name").GetString());

        // Computed once and kept: the image's grain holds the facts now.
        var kept = await host.Service<IGrainFactory>().GetGrain<IImageGrain>(pushed.Digest).Get();
        Assert.NotNull(kept);
        Assert.Equal("arm64", kept.Config!.Architecture);

        using var list = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreamtags");
        Assert.Equal(["app:v1"], list.RootElement.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("metadata").GetProperty("name").GetString()));
    }

    [Fact]
    public async Task ImageIsFoundByDigestAndListedAndAnIndexNamesItsPlatforms()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var amd = await ImageApi.PushAsync(host.Client, $"{ns}/multi", "amd", "amd");
        var arm = await ImageApi.PushAsync(host.Client, $"{ns}/multi", "arm", "arm");
        var index = await ImageApi.PushIndexAsync(host.Client, $"{ns}/multi", "all", amd, arm);

        using var image = await ImageApi.GetJsonAsync(host.Client, $"{V1}/images/{amd}");
        Assert.Equal("Image", image.RootElement.GetProperty("kind").GetString());
        Assert.Equal(amd, image.RootElement.GetProperty("metadata").GetProperty("name").GetString());
        Assert.False(image.RootElement.GetProperty("metadata").TryGetProperty("namespace", out _));
        Assert.Equal("true", image.RootElement.GetProperty("metadata").GetProperty("annotations").GetProperty("openshift.io/image.managed").GetString());

        using var indexImage = await ImageApi.GetJsonAsync(host.Client, $"{V1}/images/{index}");
        Assert.Equal(Oci.IndexType, indexImage.RootElement.GetProperty("dockerImageManifestMediaType").GetString());
        Assert.Empty(indexImage.RootElement.GetProperty("dockerImageLayers").EnumerateArray());
        var platforms = indexImage.RootElement.GetProperty("dockerImageManifests").EnumerateArray().ToArray();
        Assert.Equal([amd, arm], platforms.Select(p => p.GetProperty("digest").GetString()));
        Assert.Equal(["amd64", "arm64"], platforms.Select(p => p.GetProperty("architecture").GetString()));

        var listed = await ImageApi.ListAllAsync(host.Client, $"{V1}/images", 500);
        Assert.Contains(amd, listed);
        Assert.Contains(index, listed);
        Assert.Equal(listed.Count, listed.Distinct().Count());
    }

    [Fact]
    public async Task ImageStreamImageResolvesAUniquePrefixAndRefusesAnAmbiguousOne()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();

        // 17 images: two of them must share their first hex digit.
        var digests = new List<string>();
        for (var i = 0; i < 17; i++)
        {
            digests.Add(await ImageApi.PushAsync(host.Client, $"{ns}/app", $"t{i}", $"p{i}"));
        }

        var target = digests[0];
        var unique = Enumerable.Range(8, 57).Select(n => target[..n]).First(p => digests.Count(d => d.StartsWith(p, StringComparison.Ordinal)) == 1);
        using var found = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreamimages/app@{unique["sha256:".Length..]}");
        Assert.Equal("ImageStreamImage", found.RootElement.GetProperty("kind").GetString());
        Assert.Equal($"app@{target}", found.RootElement.GetProperty("metadata").GetProperty("name").GetString());
        Assert.Equal(target, found.RootElement.GetProperty("image").GetProperty("metadata").GetProperty("name").GetString());

        var shared = digests.GroupBy(d => d[..8]).First(g => g.Count() > 1).Key;
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreamimages/app@{shared}", 409, "Conflict");
        var missing = string.Concat(Enumerable.Repeat("0", 64));
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreamimages/app@sha256:{missing}", 404, "NotFound");
    }

    [Fact]
    public async Task EveryFailureIsAStatusWithItsCode()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "errors");
        var missing = "sha256:" + string.Concat(Enumerable.Repeat("ab", 32));

        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/nope", 404, "NotFound", "imagestreams.image.openshift.io \"nope\" not found");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreamtags/app:nope", 404, "NotFound");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreamtags/nope:v1", 404, "NotFound");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/images/{missing}", 404, "NotFound");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/widgets", 404, "NotFound");
        await ImageApi.AssertStatusAsync(host.Client, "/apis/image.openshift.io/v2/images", 404, "NotFound");
        await ImageApi.AssertStatusAsync(host.Client, "/api/v1/namespaces/nope-" + ns, 404, "NotFound");

        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreamtags/app", 400, "BadRequest");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreamtags/app:bad tag", 400, "BadRequest");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreamimages/app@xyz", 400, "BadRequest");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/images/latest", 400, "BadRequest");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/Team/imagestreams", 400, "BadRequest");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams?limit=-1", 400, "BadRequest");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams?limit=abc", 400, "BadRequest");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams?continue=!!", 400, "BadRequest");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/images?continue={ImageApi.Continue("only-one-part")}", 400, "BadRequest");

        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams", 405, "MethodNotAllowed", method: HttpMethod.Delete);
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams", 405, "MethodNotAllowed", method: HttpMethod.Put);
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreamimages", 405, "MethodNotAllowed");

        // Nothing was changed by any of them.
        using var stream = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app");
        Assert.Single(stream.RootElement.GetProperty("status").GetProperty("tags").EnumerateArray());
        Assert.Equal(["v1"], await host.Client.ListTagsAsync($"{ns}/app"));
    }

    [Fact]
    public async Task TablesHaveTheColumnsOcPrints()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "t1");
        await ImageApi.PushAsync(host.Client, $"{ns}/app", "latest", "t2");

        using var table = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams", ImageApi.TableAccept);
        Assert.Equal("Table", table.RootElement.GetProperty("kind").GetString());
        Assert.Equal("meta.k8s.io/v1", table.RootElement.GetProperty("apiVersion").GetString());
        Assert.Equal(["Name", "Image Repository", "Tags", "Updated"], table.RootElement.GetProperty("columnDefinitions").EnumerateArray().Select(c => c.GetProperty("name").GetString()));
        var row = Assert.Single(table.RootElement.GetProperty("rows").EnumerateArray());
        var cells = row.GetProperty("cells").EnumerateArray().Select(c => c.GetString()).ToArray();
        Assert.Equal("app", cells[0]);
        Assert.Equal($"{host.Authority}/{ns}/app", cells[1]);
        Assert.Equal("latest,v1", cells[2]);
        Assert.EndsWith(" ago", cells[3]);
        Assert.Equal(ns, row.GetProperty("object").GetProperty("metadata").GetProperty("namespace").GetString());

        using var tags = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreamtags/app:v1", ImageApi.TableAccept);
        Assert.Equal(["Name", "Image Reference", "Updated"], tags.RootElement.GetProperty("columnDefinitions").EnumerateArray().Select(c => c.GetProperty("name").GetString()));
        Assert.Equal("app:v1", tags.RootElement.GetProperty("rows")[0].GetProperty("cells")[0].GetString());
    }

    [Fact]
    public async Task NamespacesAreTheFirstComponentsOfRepositories()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "ns");

        using var found = await ImageApi.GetJsonAsync(host.Client, $"/api/v1/namespaces/{ns}");
        Assert.Equal("Namespace", found.RootElement.GetProperty("kind").GetString());
        Assert.Equal("Active", found.RootElement.GetProperty("status").GetProperty("phase").GetString());
        using var list = await ImageApi.GetJsonAsync(host.Client, "/api/v1/namespaces");
        Assert.Contains(list.RootElement.GetProperty("items").EnumerateArray(), n => n.GetProperty("metadata").GetProperty("name").GetString() == ns);
    }

    [Fact]
    public void HostNameSettingsAreValidatedAtStart()
    {
        using var data = new TempDirectory();
        var failure = Assert.Throws<OptionsValidationException>(() => RegistryApp.Create([$"--Registry:DataDirectory={data.Path}", "--Registry:Listen=http://127.0.0.1:0", "--Registry:ImageApi:InternalRegistryHostname=http://registry.internal/x"]));
        Assert.Contains("Registry:ImageApi:InternalRegistryHostname", failure.Message, StringComparison.Ordinal);
        var unknown = Assert.Throws<OptionsValidationException>(() => RegistryApp.Create([$"--Registry:DataDirectory={data.Path}", "--Registry:Listen=http://127.0.0.1:0", "--Registry:ImageApi:PublicHost=x"]));
        Assert.Contains("PublicHost", unknown.Message, StringComparison.Ordinal);
    }
}

/// <summary>
/// The image API on registries of its own: listing and paging across namespaces (which needs to know
/// every repository), configured host names, and what a restart keeps.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ImageApiPagingTests
{
    private const string V1 = "/apis/image.openshift.io/v1";

    [Fact]
    public async Task ListsPageWithinANamespaceAndAcrossNamespacesWithConfiguredHosts()
    {
        await using var host = await RegistryHost.StartAsync(null, "--Registry:ImageApi:InternalRegistryHostname=registry.internal:5000", "--Registry:ImageApi:PublicRegistryHostname=images.example.test");
        string[] repositories = ["alpha/app", "alpha/db", "alpha/web~x", "beta/app", "beta/tools/x", "gamma/one", "solo", "bad_ns/app"];
        foreach (var repository in repositories.Where(r => !r.Contains('~', StringComparison.Ordinal)))
        {
            await ImageApi.PushAsync(host.Client, repository, "v1", repository);
        }

        var alpha = await ImageApi.ListAllAsync(host.Client, $"{V1}/namespaces/alpha/imagestreams", 1);
        Assert.Equal(["alpha/app", "alpha/db"], alpha);
        var all = await ImageApi.ListAllAsync(host.Client, $"{V1}/imagestreams", 2);
        Assert.Equal(["alpha/app", "alpha/db", "beta/app", "beta/tools~x", "gamma/one"], all);
        var tags = await ImageApi.ListAllAsync(host.Client, $"{V1}/imagestreamtags", 1);
        Assert.Equal(["alpha/app:v1", "alpha/db:v1", "beta/app:v1", "beta/tools~x:v1", "gamma/one:v1"], tags);
        var images = await ImageApi.ListAllAsync(host.Client, $"{V1}/images", 3);
        Assert.Equal(7, images.Count);
        Assert.Equal(7, images.Distinct().Count());

        using var stream = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/beta/imagestreams/tools~x");
        var status = stream.RootElement.GetProperty("status");
        Assert.Equal("registry.internal:5000/beta/tools/x", status.GetProperty("dockerImageRepository").GetString());
        Assert.Equal("images.example.test/beta/tools/x", status.GetProperty("publicDockerImageRepository").GetString());
        Assert.StartsWith("registry.internal:5000/beta/tools/x@sha256:", status.GetProperty("tags")[0].GetProperty("items")[0].GetProperty("dockerImageReference").GetString(), StringComparison.Ordinal);

        using var namespaces = await ImageApi.GetJsonAsync(host.Client, "/api/v1/namespaces");
        Assert.Equal(["alpha", "beta", "gamma"], namespaces.RootElement.GetProperty("items").EnumerateArray().Select(n => n.GetProperty("metadata").GetProperty("name").GetString()));
    }

    [Fact]
    public async Task ImageFactsAndStreamIdentitySurviveARestart()
    {
        using var data = new TempDirectory();
        const string Internal = "--Registry:ImageApi:InternalRegistryHostname=registry.internal";
        var host = await RegistryHost.StartAsync(data.Path, Internal);
        var digest = await ImageApi.PushAsync(host.Client, "keep/app", "v1", "keep");
        using var before = await ImageApi.GetJsonAsync(host.Client, $"{V1}/images/{digest}");
        using var streamBefore = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/keep/imagestreams/app");
        await host.StopAsync();

        await using var again = await RegistryHost.StartAsync(data.Path, Internal);
        using var after = await ImageApi.GetJsonAsync(again.Client, $"{V1}/images/{digest}");
        using var streamAfter = await ImageApi.GetJsonAsync(again.Client, $"{V1}/namespaces/keep/imagestreams/app");

        // The image's creationTimestamp is when its facts were computed: the same, so they were kept, not recomputed.
        Assert.Equal(before.RootElement.GetProperty("metadata").GetRawText(), after.RootElement.GetProperty("metadata").GetRawText());
        Assert.Equal(before.RootElement.GetProperty("dockerImageMetadata").GetRawText(), after.RootElement.GetProperty("dockerImageMetadata").GetRawText());
        Assert.Equal(streamBefore.RootElement.GetProperty("metadata").GetRawText(), streamAfter.RootElement.GetProperty("metadata").GetRawText());
        Assert.Equal(streamBefore.RootElement.GetProperty("status").GetRawText(), streamAfter.RootElement.GetProperty("status").GetRawText());
    }
}

/// <summary>Client-side helpers for the image API tests.</summary>
public static class ImageApi
{
    public const string TableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

    /// <summary>A namespace no other test uses (a DNS label).</summary>
    public static string Namespace() => $"is{Guid.NewGuid():N}"[..20];

    public static string Continue(string raw) => Convert.ToBase64String(Encoding.UTF8.GetBytes(raw)).TrimEnd('=');

    /// <summary>Pushes a one-layer image whose config is tagged with <paramref name="label"/> (so each label is another image); returns its digest.</summary>
    public static async Task<string> PushAsync(HttpClient client, string repository, string tag, string label)
        => (await PushDetailedAsync(client, repository, tag, label)).Digest;

    public static async Task<(string Digest, byte[] Config, byte[][] Layers)> PushDetailedAsync(HttpClient client, string repository, string tag, string label)
    {
        var config = Oci.Json(new
        {
            architecture = "arm64",
            os = "linux",
            created = "2024-02-03T04:05:06Z",
            config = new { Env = new[] { "PATH=/usr/bin", $"MODE={label}" }, Cmd = new[] { "serve" }, Entrypoint = new[] { "/entry" }, Labels = new Dictionary<string, string> { ["name"] = label } },
            rootfs = new { type = "layers", diff_ids = new[] { Oci.Digest(Encoding.UTF8.GetBytes(label)) } },
        });
        byte[][] layers = [Oci.RandomBytes(300), Oci.RandomBytes(200)];
        await client.PushBlobAsync(repository, config);
        foreach (var layer in layers)
        {
            await client.PushBlobAsync(repository, layer);
        }

        var manifest = Oci.ImageManifest(config, layers);
        using var response = await client.PutManifestAsync(repository, tag, manifest);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (Oci.Digest(manifest), config, layers);
    }

    /// <summary>Pushes an index of two pushed images (amd64, arm64); returns its digest.</summary>
    public static async Task<string> PushIndexAsync(HttpClient client, string repository, string tag, string amd, string arm)
    {
        async Task<object> Entry(string digest, string architecture)
        {
            using var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/{repository}/manifests/{digest}"));
            return new { mediaType = Oci.ManifestType, digest, size = head.Content.Headers.ContentLength, platform = new { architecture, os = "linux" } };
        }

        var index = Oci.Json(new { schemaVersion = 2, mediaType = Oci.IndexType, manifests = new[] { await Entry(amd, "amd64"), await Entry(arm, "arm64") } });
        using var response = await client.PutManifestAsync(repository, tag, index, Oci.IndexType);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return Oci.Digest(index);
    }

    public static async Task<JsonDocument> GetJsonAsync(HttpClient client, string path, string? accept = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (accept is not null)
        {
            request.Headers.TryAddWithoutValidation("Accept", accept);
        }

        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)response.StatusCode} {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(body);
    }

    /// <summary>Asserts a Kubernetes Status failure with the code and reason (and message, when given).</summary>
    public static async Task AssertStatusAsync(HttpClient client, string path, int code, string reason, string? message = null, HttpMethod? method = null)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Get, path);
        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == code, $"{request.Method} {path}: expected {code}, got {(int)response.StatusCode} {body}");
        using var json = JsonDocument.Parse(body);
        Assert.Equal("Status", json.RootElement.GetProperty("kind").GetString());
        Assert.Equal("v1", json.RootElement.GetProperty("apiVersion").GetString());
        Assert.Equal("Failure", json.RootElement.GetProperty("status").GetString());
        Assert.Equal(reason, json.RootElement.GetProperty("reason").GetString());
        Assert.Equal(code, json.RootElement.GetProperty("code").GetInt32());
        if (message is not null)
        {
            Assert.Equal(message, json.RootElement.GetProperty("message").GetString());
        }
    }

    /// <summary>
    /// Follows <c>continue</c> from page to page (each at most <paramref name="limit"/> items) and
    /// returns the items as <c>namespace/name</c>, or the name for cluster-scoped ones.
    /// </summary>
    public static async Task<List<string>> ListAllAsync(HttpClient client, string path, int limit)
    {
        var items = new List<string>();
        string? next = null;
        for (var pages = 0; pages < 10_000; pages++)
        {
            var query = next is null ? $"?limit={limit}" : $"?limit={limit}&continue={Uri.EscapeDataString(next)}";
            using var page = await GetJsonAsync(client, path + query);
            var pageItems = page.RootElement.GetProperty("items").EnumerateArray().ToArray();
            if (!path.EndsWith("imagestreamtags", StringComparison.Ordinal))
            {
                Assert.True(pageItems.Length <= limit, $"a page of {pageItems.Length} items for limit {limit}");
            }

            items.AddRange(pageItems.Select(i => i.GetProperty("metadata") is var m && m.TryGetProperty("namespace", out var ns) ? $"{ns.GetString()}/{m.GetProperty("name").GetString()}" : m.GetProperty("name").GetString()!));
            if (!page.RootElement.GetProperty("metadata").TryGetProperty("continue", out var c))
            {
                return items;
            }

            next = c.GetString();
        }

        throw new Xunit.Sdk.XunitException($"{path} did not end within 10000 pages");
    }
}

/// <summary>Watching the image streams of a namespace over plain HTTP.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ImageApiWatchTests
{
    private const string V1 = "/apis/image.openshift.io/v1";

    [Fact]
    public async Task WatchFromAListsVersionShowsAPushAsAModifiedStream()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "w1");
        using var list = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams");
        var version = list.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString()!;

        using var cts = Bounded.Token();
        using var response = await host.Client.GetAsync($"{V1}/namespaces/{ns}/imagestreams?watch=true&resourceVersion={version}", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));

        // The log is fed asynchronously, so the list may predate v1's own events: those may come first.
        var pushed = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v2", "w2");
        JsonElement? v2 = null;
        while (v2 is null)
        {
            using var change = await ReadEventAsync(reader, cts.Token);
            Assert.Equal("MODIFIED", change.RootElement.GetProperty("type").GetString());
            var stream = change.RootElement.GetProperty("object");
            Assert.Equal("app", stream.GetProperty("metadata").GetProperty("name").GetString());
            Assert.True(long.Parse(stream.GetProperty("metadata").GetProperty("resourceVersion").GetString()!, System.Globalization.CultureInfo.InvariantCulture) > long.Parse(version, System.Globalization.CultureInfo.InvariantCulture));
            v2 = stream.GetProperty("status").GetProperty("tags").EnumerateArray().Where(t => t.GetProperty("tag").GetString() == "v2").Select(t => (JsonElement?)t.Clone()).FirstOrDefault();
        }

        Assert.Equal(pushed, v2.Value.GetProperty("items")[0].GetProperty("image").GetString());
    }

    [Fact]
    public async Task WatchFromTheVersionOfAnEmptyNamespacesListShowsTheFirstPush()
    {
        // The list is taken while the namespace's event log is still empty (position 0): its
        // resourceVersion must name a point a watch resumes from, not one beyond the log (410).
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        using var list = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams");
        var version = list.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString()!;
        var pushed = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "first");

        using var cts = Bounded.Token();
        using var response = await host.Client.GetAsync($"{V1}/namespaces/{ns}/imagestreams?watch=true&resourceVersion={version}", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
        using var change = await ReadEventAsync(reader, cts.Token);
        var stream = change.RootElement.GetProperty("object");
        Assert.Equal("app", stream.GetProperty("metadata").GetProperty("name").GetString());
        Assert.Equal(pushed, stream.GetProperty("status").GetProperty("tags")[0].GetProperty("items")[0].GetProperty("image").GetString());
    }

    [Fact]
    public async Task WatchWithoutAVersionStartsWithEveryStreamAdded()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        await ImageApi.PushAsync(host.Client, $"{ns}/a", "v1", "a");
        await ImageApi.PushAsync(host.Client, $"{ns}/b/c", "v1", "bc");

        using var cts = Bounded.Token();
        using var response = await host.Client.GetAsync($"{V1}/namespaces/{ns}/imagestreams?watch=true", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
        using var first = await ReadEventAsync(reader, cts.Token);
        using var second = await ReadEventAsync(reader, cts.Token);
        Assert.Equal(["ADDED", "ADDED"], new[] { first, second }.Select(e => e.RootElement.GetProperty("type").GetString()));
        Assert.Equal(["a", "b~c"], new[] { first, second }.Select(e => e.RootElement.GetProperty("object").GetProperty("metadata").GetProperty("name").GetString()));

        // Only the selected stream's changes with a field selector, as `kubectl get is a -w` asks.
        using var selected = await host.Client.GetAsync($"{V1}/namespaces/{ns}/imagestreams?watch=true&fieldSelector=metadata.name%3Db~c", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        using var selectedReader = new StreamReader(await selected.Content.ReadAsStreamAsync(cts.Token));
        using var only = await ReadEventAsync(selectedReader, cts.Token);
        Assert.Equal("b~c", only.RootElement.GetProperty("object").GetProperty("metadata").GetProperty("name").GetString());
        await ImageApi.PushAsync(host.Client, $"{ns}/a", "v2", "a2");
        await ImageApi.PushAsync(host.Client, $"{ns}/b/c", "v2", "bc2");
        using var next = await ReadEventAsync(selectedReader, cts.Token);
        Assert.Equal("b~c", next.RootElement.GetProperty("object").GetProperty("metadata").GetProperty("name").GetString());
        Assert.Equal("MODIFIED", next.RootElement.GetProperty("type").GetString());
    }

    [Fact]
    public async Task WatchRefusesWhatItCannotServe()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "refuse");

        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams?watch=true&resourceVersion=999999999", 410, "Expired");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams?watch=true&resourceVersion=abc", 400, "BadRequest");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams?watch=true&fieldSelector=spec.x%3Dy", 400, "BadRequest");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreamtags?watch=true", 405, "MethodNotAllowed");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/imagestreamtags?watch=true", 405, "MethodNotAllowed");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app?watch=true", 405, "MethodNotAllowed");
    }

    private static async Task<JsonDocument> ReadEventAsync(StreamReader reader, CancellationToken ct)
    {
        var line = await reader.ReadLineAsync(ct) ?? throw new Xunit.Sdk.XunitException("the watch ended");
        return JsonDocument.Parse(line);
    }
}
