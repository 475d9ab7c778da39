using System.Net;

namespace Registry.Tests;

/// <summary>
/// Lists and watches across namespaces under access control: an authenticated caller sees, item by
/// item, the streams it may pull; an anonymous one needs pull on the whole registry; images need it too.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ImageApiWatchAcrossAccessTests
{
    private const string V1 = "/apis/image.openshift.io/v1";

    [Fact]
    public async Task ACrossNamespaceListAndWatchShowOnlyWhatTheCallerMayPull()
    {
        var host = await PolicyRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var (visible, hidden) = (PolicyRegistry.NewNamespace(), PolicyRegistry.NewNamespace());
        await PolicyRegistry.CreateNamespaceAsync(admin, visible);
        await PolicyRegistry.CreateNamespaceAsync(admin, hidden);
        await admin.PushImageAsync($"{visible}/app", "v1", layers: 1);
        await admin.PushImageAsync($"{hidden}/app", "v1", layers: 1);
        var (viewerName, viewerAuth) = await PolicyRegistry.NewUserAsync(host);
        await PolicyRegistry.BindAsync(admin, visible, "viewer", [PolicyRegistry.User(viewerName)]);
        using var viewer = PolicyRegistry.Client(host, viewerAuth);

        using (var listed = await viewer.GetAsync($"{V1}/imagestreams"))
        {
            var items = (await listed.JsonAsync(HttpStatusCode.OK)).GetProperty("items").EnumerateArray()
                .Select(i => $"{i.GetProperty("metadata").GetProperty("namespace").GetString()}/{i.GetProperty("metadata").GetProperty("name").GetString()}");
            Assert.Equal([$"{visible}/app"], items);
        }

        // The list's version, then a push where the viewer may not look and one where it may: only the second comes.
        using var list = await viewer.GetAsync($"{V1}/imagestreams");
        var version = (await list.JsonAsync(HttpStatusCode.OK)).GetProperty("metadata").GetProperty("resourceVersion").GetString();
        using var cts = Bounded.Token();
        using var watch = await viewer.GetAsync($"{V1}/imagestreams?watch=true&resourceVersion={version}", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal(HttpStatusCode.OK, watch.StatusCode);
        using var reader = new StreamReader(await watch.Content.ReadAsStreamAsync(cts.Token));
        await admin.PushImageAsync($"{hidden}/app", "v2", layers: 1);
        await admin.PushImageAsync($"{visible}/app", "v2", layers: 1);
        using var first = await ImageApiWatchAcrossTests.ReadEventAsync(reader, cts.Token);
        Assert.Equal(visible, first.RootElement.GetProperty("object").GetProperty("metadata").GetProperty("namespace").GetString());

        // Without a version the initial ADDED events are filtered as well.
        using var fresh = await viewer.GetAsync($"{V1}/imagestreams?watch=true", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        using var freshReader = new StreamReader(await fresh.Content.ReadAsStreamAsync(cts.Token));
        using var added = await ImageApiWatchAcrossTests.ReadEventAsync(freshReader, cts.Token);
        Assert.Equal("ADDED", added.RootElement.GetProperty("type").GetString());
        Assert.Equal(visible, added.RootElement.GetProperty("object").GetProperty("metadata").GetProperty("namespace").GetString());

        // Images are registry-wide: the viewer of one namespace may not watch them.
        using var images = await viewer.GetAsync($"{V1}/images?watch=true");
        await images.AssertStatusAsync(HttpStatusCode.Forbidden, "Forbidden");
    }

    [Fact]
    public async Task AnAnonymousCallerNeedsPullOnTheWholeRegistry()
    {
        var host = await PolicyRegistry.GetAsync();
        using var anonymous = PolicyRegistry.Client(host, null);
        foreach (var path in new[] { $"{V1}/imagestreams", $"{V1}/imagestreams?watch=true", $"{V1}/imagestreamtags", $"{V1}/images?watch=true" })
        {
            using var refused = await anonymous.GetAsync(path);
            await refused.AssertStatusAsync(HttpStatusCode.Unauthorized, "Unauthorized");
        }

        // A write's body is not even read for an anonymous caller (no field validation before access).
        using (var body = new StringContent("""{"spec":{"x":1}}""", System.Text.Encoding.UTF8, "application/json"))
        {
            using var write = await anonymous.PostAsync($"{V1}/namespaces/{PolicyRegistry.NewNamespace()}/imagestreams?fieldValidation=Strict", body);
            await write.AssertStatusAsync(HttpStatusCode.Unauthorized, "Unauthorized");
        }

        // An authenticated caller without any binding is let in and sees nothing.
        var (_, outsiderAuth) = await PolicyRegistry.NewUserAsync(host);
        using var outsider = PolicyRegistry.Client(host, outsiderAuth);
        using var listed = await outsider.GetAsync($"{V1}/imagestreams");
        Assert.Equal(0, (await listed.JsonAsync(HttpStatusCode.OK)).GetProperty("items").GetArrayLength());
        using var content = new StringContent("""{"spec":{"x":1}}""", System.Text.Encoding.UTF8, "application/json");
        using var validated = await outsider.PostAsync($"{V1}/namespaces/{PolicyRegistry.NewNamespace()}/imagestreams?fieldValidation=Strict", content);
        await validated.AssertStatusAsync(HttpStatusCode.BadRequest, "BadRequest");
    }
}
