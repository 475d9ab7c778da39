using System.Net;

namespace Registry.Tests;

/// <summary>
/// The image API's changes under access control, role by verb: a tag create needs push, moving a
/// tag that points elsewhere overwrite, deletes delete, and a source in another namespace pull
/// there; anonymous callers get 401, known ones 403, and a refusal changes nothing.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ImageApiWriteAccessTests
{
    private const string V1 = ImageApiRoleScene.V1;

    public static TheoryData<string, HttpStatusCode, HttpStatusCode, HttpStatusCode, HttpStatusCode> Roles() => new()
    {
        // role, create a tag, move a tag, delete a tag, delete a stream
        { "anonymous", HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized },
        { "viewer", HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden },
        { "pusher", HttpStatusCode.Created, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden },
        { "admin", HttpStatusCode.Created, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK },
    };

    [Theory]
    [MemberData(nameof(Roles))]
    public async Task EachRoleMayMakeTheChangesItsPermissionsAllow(string role, HttpStatusCode create, HttpStatusCode move, HttpStatusCode deleteTag, HttpStatusCode deleteStream)
    {
        using var scene = await ImageApiRoleScene.StartAsync(role);
        var (host, admin, client, ns, v1, v2, user) = (scene.Host, scene.Admin, scene.Client, scene.Namespace, scene.First, scene.Second, scene.User);
        await admin.PushImageAsync($"{ns}/gone", "v1", layers: 1);

        var tags = $"{V1}/namespaces/{ns}/imagestreamtags";

        using (var created = await ImageApiWrite.SendAsync(client, HttpMethod.Post, tags, ImageApiWrite.Tag("app:new", "ImageStreamImage", $"app@{v1}")))
        {
            await ImageApiRoleScene.ExpectAsync(created, create);
        }

        using (var moved = await ImageApiWrite.SendAsync(client, HttpMethod.Put, $"{tags}/app:v1", ImageApiWrite.Tag("app:v1", "ImageStreamImage", $"app@{v2}")))
        {
            await ImageApiRoleScene.ExpectAsync(moved, move);
        }

        using (var deleted = await client.DeleteAsync($"{tags}/app:v2"))
        {
            await ImageApiRoleScene.ExpectAsync(deleted, deleteTag);
        }

        using (var gone = await client.DeleteAsync($"{V1}/namespaces/{ns}/imagestreams/gone"))
        {
            await ImageApiRoleScene.ExpectAsync(gone, deleteStream);
        }

        // What /v2 serves is what the allowed changes left.
        var expected = new List<string> { "v1" };
        if (create == HttpStatusCode.Created)
        {
            expected.Add("new");
        }

        if (deleteTag != HttpStatusCode.OK)
        {
            expected.Add("v2");
        }

        Assert.Equal(expected.Order(StringComparer.Ordinal), (await admin.ListTagsAsync($"{ns}/app")).Order(StringComparer.Ordinal));
        Assert.Equal(move == HttpStatusCode.OK ? v2 : v1, (await admin.GetManifestAsync($"{ns}/app", "v1")).Digest);
        using var stream = await admin.GetAsync($"/v2/{ns}/gone/tags/list");
        Assert.Equal(deleteStream == HttpStatusCode.OK ? HttpStatusCode.NotFound : HttpStatusCode.OK, stream.StatusCode);

        // A created tag's event is a push of the tag, by the caller, of the manifest's URL.
        if (create == HttpStatusCode.Created)
        {
            var log = host.Service<IGrainFactory>().GetGrain<Registry.Grains.INamespaceEventLogGrain>(ns);
            Registry.Grains.RegistryEvent? tagged = null;
            await Poll.UntilAsync(
                async () => (tagged = (await log.ReadAfter(0, 1000)).Events.Select(e => e.Event).FirstOrDefault(e => e.Target.Tag == "new")) is not null,
                "the namespace's log has the tag's event");
            Assert.Equal(Registry.Grains.RegistryEvent.Push, tagged!.Action);
            Assert.Equal(user, tagged.Actor);
            Assert.Equal(v1, tagged.Target.Digest);
            Assert.EndsWith($"/v2/{ns}/app/manifests/{v1}", tagged.Target.Url, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task CopyingFromAnotherNamespaceNeedsPullThere()
    {
        var host = await PolicyRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var source = PolicyRegistry.NewNamespace();
        var target = PolicyRegistry.NewNamespace();
        await PolicyRegistry.CreateNamespaceAsync(admin, source);
        await PolicyRegistry.CreateNamespaceAsync(admin, target);
        var (digest, _) = await admin.PushImageAsync($"{source}/app", "v1", layers: 1);
        var (name, credentials) = await PolicyRegistry.NewUserAsync(host);
        await PolicyRegistry.BindAsync(admin, target, "pusher", [PolicyRegistry.User(name)]);
        using var client = PolicyRegistry.Client(host, credentials);
        var body = ImageApiWrite.Tag("web:v1", "ImageStreamTag", "app:v1", source);

        using (var refused = await ImageApiWrite.SendAsync(client, HttpMethod.Post, $"{V1}/namespaces/{target}/imagestreamtags", body))
        {
            await refused.AssertStatusAsync(HttpStatusCode.Forbidden, "Forbidden");
        }

        using (var nothing = await admin.GetAsync($"/v2/{target}/web/tags/list"))
        {
            Assert.Equal(HttpStatusCode.NotFound, nothing.StatusCode);
        }

        // With pull on the source the same request copies the image.
        await PolicyRegistry.BindAsync(admin, source, "viewer", [PolicyRegistry.User(name)]);
        using var copied = await ImageApiWrite.SendAsync(client, HttpMethod.Post, $"{V1}/namespaces/{target}/imagestreamtags", body);
        await copied.JsonAsync(HttpStatusCode.Created);
        Assert.Equal(digest, (await admin.GetManifestAsync($"{target}/web", "v1")).Digest);
    }

    public static TheoryData<string, HttpStatusCode, HttpStatusCode, HttpStatusCode, HttpStatusCode> StreamRoles() => new()
    {
        // role, create a stream, add a spec tag (update), move a tag by a patch of its spec tag, a JSON patch adding a tag
        { "anonymous", HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized },
        { "viewer", HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden },
        { "pusher", HttpStatusCode.Created, HttpStatusCode.OK, HttpStatusCode.Forbidden, HttpStatusCode.OK },
        { "admin", HttpStatusCode.Created, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK },
    };

    [Theory]
    [MemberData(nameof(StreamRoles))]
    public async Task EachRoleMayMakeTheStreamChangesItsPermissionsAllow(string role, HttpStatusCode create, HttpStatusCode update, HttpStatusCode move, HttpStatusCode jsonPatch)
    {
        using var scene = await ImageApiRoleScene.StartAsync(role);
        var (admin, client, ns, v1, v2) = (scene.Admin, scene.Client, scene.Namespace, scene.First, scene.Second);
        var streams = $"{V1}/namespaces/{ns}/imagestreams";

        using (var created = await ImageApiWrite.SendAsync(client, HttpMethod.Post, streams, SpecStreams.Stream("web")))
        {
            await ImageApiRoleScene.ExpectAsync(created, create);
        }

        // A new spec tag (prod from v1): push; then moving it to v2 points an existing tag elsewhere: overwrite.
        using (var updated = await ImageApiWrite.SendAsync(client, HttpMethod.Put, $"{streams}/app", SpecStreams.Stream("app", tags: [SpecStreams.Tag("prod", "ImageStreamImage", $"app@{v1}")])))
        {
            await ImageApiRoleScene.ExpectAsync(updated, update);
        }

        if (update != HttpStatusCode.OK)
        {
            using var seeded = await ImageApiWrite.SendAsync(admin, HttpMethod.Put, $"{streams}/app", SpecStreams.Stream("app", tags: [SpecStreams.Tag("prod", "ImageStreamImage", $"app@{v1}")]));
            await seeded.JsonAsync(HttpStatusCode.OK);
        }

        using (var moved = await ImageApiWrite.SendAsync(client, HttpMethod.Patch, $"{streams}/app", "{\"spec\":{\"tags\":[{\"name\":\"prod\",\"from\":{\"kind\":\"ImageStreamImage\",\"name\":\"app@" + v2 + "\"}}]}}", "application/strategic-merge-patch+json"))
        {
            await ImageApiRoleScene.ExpectAsync(moved, move);
        }

        using (var added = await ImageApiWrite.SendAsync(client, HttpMethod.Patch, $"{streams}/app", "[{\"op\":\"add\",\"path\":\"/spec/tags/-\",\"value\":{\"name\":\"next\",\"from\":{\"kind\":\"ImageStreamTag\",\"name\":\"v2\"}}}]", "application/json-patch+json"))
        {
            await ImageApiRoleScene.ExpectAsync(added, jsonPatch);
        }

        // What /v2 serves is what the allowed changes left.
        Assert.Equal(move == HttpStatusCode.OK ? v2 : v1, (await admin.GetManifestAsync($"{ns}/app", "prod")).Digest);
        var tags = await admin.ListTagsAsync($"{ns}/app");
        Assert.Equal(jsonPatch == HttpStatusCode.OK, tags.Contains("next"));
        using var web = await admin.GetAsync($"{streams}/web");
        Assert.Equal(create == HttpStatusCode.Created ? HttpStatusCode.OK : HttpStatusCode.NotFound, web.StatusCode);
    }
}
