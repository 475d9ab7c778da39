using System.Net;
using System.Text.Json;

namespace Registry.Tests;

/// <summary>The image API and the garbage-collection API under access control: the permissions of <c>/v2</c>, Kubernetes <c>Status</c> refusals.</summary>
[Trait("Category", "Fast")]
public sealed class ImageApiAccessTests
{
    [Fact]
    public async Task AStreamIsReadWithPullOnItsRepositoryAndListsShowOnlyWhatTheCallerMayPull()
    {
        var host = await PolicyRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var ns = PolicyRegistry.NewNamespace();
        await PolicyRegistry.CreateNamespaceAsync(admin, ns);
        var (digest, _) = await admin.PushImageAsync($"{ns}/app", "v1", layers: 1);
        var (viewerName, viewer) = await PolicyRegistry.NewUserAsync(host);
        var (_, outsider) = await PolicyRegistry.NewUserAsync(host);
        await PolicyRegistry.BindAsync(admin, ns, "viewer", [PolicyRegistry.User(viewerName)]);
        var stream = $"/apis/image.openshift.io/v1/namespaces/{ns}/imagestreams/app";
        var list = $"/apis/image.openshift.io/v1/namespaces/{ns}/imagestreams";

        using (var anonymous = PolicyRegistry.Client(host, null))
        {
            using var refused = await anonymous.GetAsync(stream);
            await refused.AssertStatusAsync(HttpStatusCode.Unauthorized, "Unauthorized");
            Assert.NotEmpty(refused.Headers.WwwAuthenticate);
        }

        using (var client = PolicyRegistry.Client(host, outsider))
        {
            using var refused = await client.GetAsync(stream);
            await refused.AssertStatusAsync(HttpStatusCode.Forbidden, "Forbidden");
            using var listed = await client.GetAsync(list);
            var items = (await listed.JsonAsync(HttpStatusCode.OK)).GetProperty("items");
            Assert.Equal(0, items.GetArrayLength());
        }

        using (var client = PolicyRegistry.Client(host, viewer))
        {
            using var read = await client.GetAsync(stream);
            Assert.Equal("app", (await read.JsonAsync(HttpStatusCode.OK)).GetProperty("metadata").GetProperty("name").GetString());
            using var listed = await client.GetAsync(list);
            Assert.Equal(1, (await listed.JsonAsync(HttpStatusCode.OK)).GetProperty("items").GetArrayLength());

            // Images are cluster-scoped: reading them by digest needs pull across the registry.
            using var image = await client.GetAsync($"/apis/image.openshift.io/v1/images/{digest}");
            await image.AssertStatusAsync(HttpStatusCode.Forbidden, "Forbidden");
        }

        using var byAdmin = await admin.GetAsync($"/apis/image.openshift.io/v1/images/{digest}");
        Assert.Equal(digest, (await byAdmin.JsonAsync(HttpStatusCode.OK)).GetProperty("metadata").GetProperty("name").GetString());
    }

    [Fact]
    public async Task OnlyARegistryAdminStartsOrReadsAGarbageCollection()
    {
        var host = await PolicyRegistry.GetAsync();
        const string path = "/apis/registry/v1/garbagecollections";
        var dryRun = new StringContent("""{"kind":"GarbageCollection","spec":{"dryRun":true}}""", System.Text.Encoding.UTF8, "application/json");

        using (var anonymous = PolicyRegistry.Client(host, null))
        {
            using var refused = await anonymous.PostAsync(path, dryRun);
            await refused.AssertStatusAsync(HttpStatusCode.Unauthorized, "Unauthorized");
        }

        var (_, user) = await PolicyRegistry.NewUserAsync(host);
        using (var client = PolicyRegistry.Client(host, user))
        {
            using var refused = await client.PostAsync(path, dryRun);
            await refused.AssertStatusAsync(HttpStatusCode.Forbidden, "Forbidden");
            using var last = await client.GetAsync(path + "/last");
            await last.AssertStatusAsync(HttpStatusCode.Forbidden, "Forbidden");
        }

        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        using var started = await admin.PostAsync(path, dryRun);
        Assert.True(started.StatusCode is HttpStatusCode.Created or HttpStatusCode.Accepted or HttpStatusCode.Conflict, await started.Content.ReadAsStringAsync());
        using var status = await admin.GetAsync(path + "/last");
        Assert.Equal(JsonValueKind.Object, (await status.JsonAsync(HttpStatusCode.OK)).ValueKind);
    }
}
