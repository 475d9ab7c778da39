using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Registry.Api.Access;
using Registry.Grains;
using Xunit.Abstractions;

namespace Registry.Tests;

/// <summary>The management API (<c>/apis/registry/v1</c>): namespaces, role bindings, who may manage them, and what it refuses.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class PolicyApiTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ANamespaceIsCreatedWithItsCreatorAsAdminListedReadAndDeleted()
    {
        var host = await PolicyRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var ns = PolicyRegistry.NewNamespace();

        using (var created = await PolicyRegistry.ApiAsync(admin, HttpMethod.Post, "/namespaces", new { metadata = new { name = ns } }))
        {
            var body = await created.JsonAsync(HttpStatusCode.Created);
            Assert.Equal("registry/v1", body.GetProperty("apiVersion").GetString());
            Assert.Equal("Namespace", body.GetProperty("kind").GetString());
            Assert.Equal(ns, body.GetProperty("metadata").GetProperty("name").GetString());
            Assert.Matches(@"^\d+$", body.GetProperty("metadata").GetProperty("resourceVersion").GetString());
            Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", body.GetProperty("metadata").GetProperty("creationTimestamp").GetString());
        }

        using (var again = await PolicyRegistry.ApiAsync(admin, HttpMethod.Post, "/namespaces", new { metadata = new { name = ns } }))
        {
            await again.AssertStatusAsync(HttpStatusCode.Conflict, "AlreadyExists");
        }

        using (var list = await PolicyRegistry.ApiAsync(admin, HttpMethod.Get, "/namespaces"))
        {
            var body = await list.JsonAsync(HttpStatusCode.OK);
            Assert.Equal("NamespaceList", body.GetProperty("kind").GetString());
            Assert.Contains(ns, body.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("metadata").GetProperty("name").GetString()));
        }

        using (var bindings = await PolicyRegistry.ApiAsync(admin, HttpMethod.Get, $"/namespaces/{ns}/rolebindings"))
        {
            var item = Assert.Single((await bindings.JsonAsync(HttpStatusCode.OK)).GetProperty("items").EnumerateArray());
            Assert.Equal("namespace-admin", item.GetProperty("metadata").GetProperty("name").GetString());
            Assert.Equal(ns, item.GetProperty("metadata").GetProperty("namespace").GetString());
            Assert.Equal("admin", item.GetProperty("roleRef").GetProperty("name").GetString());
            Assert.Equal(AdminBootstrap.AdminName, item.GetProperty("subjects")[0].GetProperty("name").GetString());
        }

        using (var deleted = await PolicyRegistry.ApiAsync(admin, HttpMethod.Delete, $"/namespaces/{ns}"))
        {
            await deleted.JsonAsync(HttpStatusCode.OK);
        }

        using var gone = await PolicyRegistry.ApiAsync(admin, HttpMethod.Get, $"/namespaces/{ns}");
        await gone.AssertStatusAsync(HttpStatusCode.NotFound, "NotFound");
    }

    [Fact]
    public async Task OnlyAdminsManageAndAnonymousIsChallenged()
    {
        var host = await PolicyRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var ns = PolicyRegistry.NewNamespace();
        await PolicyRegistry.CreateNamespaceAsync(admin, ns);
        var (viewer, viewerAuth) = await PolicyRegistry.NewUserAsync(host);
        var (nsAdmin, nsAdminAuth) = await PolicyRegistry.NewUserAsync(host);
        await PolicyRegistry.BindAsync(admin, ns, Roles.Viewer, [PolicyRegistry.User(viewer)]);
        await PolicyRegistry.BindAsync(admin, ns, Roles.Admin, [PolicyRegistry.User(nsAdmin)]);
        using var anonymous = PolicyRegistry.Client(host, null);
        using var badCredentials = PolicyRegistry.Client(host, AccessRegistry.Basic(viewer, "wrong"));
        using var asViewer = PolicyRegistry.Client(host, viewerAuth);
        using var asNsAdmin = PolicyRegistry.Client(host, nsAdminAuth);
        var binding = PolicyRegistry.Binding("from-" + Guid.NewGuid().ToString("N")[..8], Roles.Viewer, [PolicyRegistry.Group("system:authenticated")], ns);

        foreach (var client in new[] { anonymous, badCredentials })
        {
            using var response = await PolicyRegistry.ApiAsync(client, HttpMethod.Get, $"/namespaces/{ns}/rolebindings");
            await response.AssertStatusAsync(HttpStatusCode.Unauthorized, "Unauthorized");
            Assert.StartsWith("Bearer realm=", response.Headers.WwwAuthenticate.Single().ToString(), StringComparison.Ordinal);
        }

        // A viewer reads the namespace but manages nothing; the namespace's admin manages its bindings only.
        using (var read = await PolicyRegistry.ApiAsync(asViewer, HttpMethod.Get, $"/namespaces/{ns}"))
        {
            await read.JsonAsync(HttpStatusCode.OK);
        }

        foreach (var (method, path, body) in new (HttpMethod, string, object?)[]
        {
            (HttpMethod.Get, $"/namespaces/{ns}/rolebindings", null),
            (HttpMethod.Post, $"/namespaces/{ns}/rolebindings", binding),
            (HttpMethod.Delete, $"/namespaces/{ns}", null),
            (HttpMethod.Post, "/namespaces", new { metadata = new { name = PolicyRegistry.NewNamespace() } }),
            (HttpMethod.Get, "/clusterrolebindings", null),
        })
        {
            using var response = await PolicyRegistry.ApiAsync(asViewer, method, path, body);
            await response.AssertStatusAsync(HttpStatusCode.Forbidden, "Forbidden");
        }

        using (var created = await PolicyRegistry.ApiAsync(asNsAdmin, HttpMethod.Post, $"/namespaces/{ns}/rolebindings", binding))
        {
            await created.JsonAsync(HttpStatusCode.Created);
        }

        using (var cluster = await PolicyRegistry.ApiAsync(asNsAdmin, HttpMethod.Post, "/clusterrolebindings", PolicyRegistry.Binding("x" + ns, Roles.Viewer, [PolicyRegistry.User(nsAdmin)])))
        {
            await cluster.AssertStatusAsync(HttpStatusCode.Forbidden, "Forbidden");
        }

        using var elsewhere = await PolicyRegistry.ApiAsync(asNsAdmin, HttpMethod.Get, $"/namespaces/{PolicyRegistry.NewNamespace()}/rolebindings");
        await elsewhere.AssertStatusAsync(HttpStatusCode.Forbidden, "Forbidden");
    }

    [Fact]
    public async Task AnUpdateWithAStaleResourceVersionIsAConflictAndChangesNothing()
    {
        var host = await PolicyRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var ns = PolicyRegistry.NewNamespace();
        await PolicyRegistry.CreateNamespaceAsync(admin, ns);
        var (user, _) = await PolicyRegistry.NewUserAsync(host);
        var created = await PolicyRegistry.BindAsync(admin, ns, Roles.Viewer, [PolicyRegistry.User(user)], name: "ci");
        var first = created.GetProperty("metadata").GetProperty("resourceVersion").GetString();

        using (var updated = await PolicyRegistry.ApiAsync(admin, HttpMethod.Put, $"/namespaces/{ns}/rolebindings/ci", PolicyRegistry.Binding("ci", Roles.Pusher, [PolicyRegistry.User(user)], ns, resourceVersion: first)))
        {
            var body = await updated.JsonAsync(HttpStatusCode.OK);
            Assert.NotEqual(first, body.GetProperty("metadata").GetProperty("resourceVersion").GetString());
        }

        using (var stale = await PolicyRegistry.ApiAsync(admin, HttpMethod.Put, $"/namespaces/{ns}/rolebindings/ci", PolicyRegistry.Binding("ci", Roles.Editor, [PolicyRegistry.User(user)], ns, resourceVersion: first)))
        {
            await stale.AssertStatusAsync(HttpStatusCode.Conflict, "Conflict");
        }

        using (var staleDelete = await PolicyRegistry.ApiAsync(admin, HttpMethod.Delete, $"/namespaces/{ns}/rolebindings/ci?resourceVersion={first}"))
        {
            await staleDelete.AssertStatusAsync(HttpStatusCode.Conflict, "Conflict");
        }

        using (var read = await PolicyRegistry.ApiAsync(admin, HttpMethod.Get, $"/namespaces/{ns}/rolebindings/ci"))
        {
            Assert.Equal(Roles.Pusher, (await read.JsonAsync(HttpStatusCode.OK)).GetProperty("roleRef").GetProperty("name").GetString());
        }

        using (var deleted = await PolicyRegistry.ApiAsync(admin, HttpMethod.Delete, $"/namespaces/{ns}/rolebindings/ci"))
        {
            await deleted.JsonAsync(HttpStatusCode.OK);
        }

        using var gone = await PolicyRegistry.ApiAsync(admin, HttpMethod.Get, $"/namespaces/{ns}/rolebindings/ci");
        await gone.AssertStatusAsync(HttpStatusCode.NotFound, "NotFound");
    }

    public static TheoryData<string, string, int, string> BadBodies() => new()
    {
        { "unknown role", Json(PolicyRegistry.Binding("a", "owner", [PolicyRegistry.User("x")], "NS")), 422, "Invalid" },
        { "registry-only role in a namespace", Json(PolicyRegistry.Binding("a", Roles.NamespaceCreator, [PolicyRegistry.User("x")], "NS")), 422, "Invalid" },
        { "no subjects", Json(PolicyRegistry.Binding("a", Roles.Viewer, [], "NS")), 422, "Invalid" },
        { "invalid name", Json(PolicyRegistry.Binding("Not_A_Name", Roles.Viewer, [PolicyRegistry.User("x")], "NS")), 422, "Invalid" },
        { "unknown subject kind", Json(PolicyRegistry.Binding("a", Roles.Viewer, [new { kind = "Robot", name = "x" }], "NS")), 422, "Invalid" },
        { "subject name with white space", Json(PolicyRegistry.Binding("a", Roles.Viewer, [PolicyRegistry.User("a b")], "NS")), 422, "Invalid" },
        { "invalid repository", Json(PolicyRegistry.Binding("a", Roles.Viewer, [PolicyRegistry.User("x")], "NS", repository: "../app")), 422, "Invalid" },
        { "wrong kind", Json(PolicyRegistry.Binding("a", Roles.Viewer, [PolicyRegistry.User("x")], null)), 400, "BadRequest" },
        { "another namespace", Json(PolicyRegistry.Binding("a", Roles.Viewer, [PolicyRegistry.User("x")], "other")), 400, "BadRequest" },
        { "not json", "{\"metadata\":", 400, "BadRequest" },
        { "subjects not a list", "{\"metadata\":{\"name\":\"a\"},\"subjects\":\"x\",\"roleRef\":{\"name\":\"viewer\"}}", 400, "BadRequest" },
        { "over-size", Json(PolicyRegistry.Binding("a", Roles.Viewer, [.. Enumerable.Range(0, 5000).Select(i => PolicyRegistry.User($"user-{i}"))], "NS")), 413, "RequestEntityTooLarge" },
        { "too many subjects", Json(PolicyRegistry.Binding("a", Roles.Viewer, [.. Enumerable.Range(0, 101).Select(i => PolicyRegistry.User($"u{i}"))], "NS")), 422, "Invalid" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task ABadBindingIsRefusedAndNothingIsStored(string what, string body, int status, string reason)
    {
        var host = await PolicyRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var ns = PolicyRegistry.NewNamespace();
        await PolicyRegistry.CreateNamespaceAsync(admin, ns);
        var before = await host.Service<IGrainFactory>().GetGrain<IPolicyGrain>(ns).Get();

        using (var response = await PolicyRegistry.ApiAsync(admin, HttpMethod.Post, $"/namespaces/{ns}/rolebindings", body.Replace("\"NS\"", $"\"{ns}\"", StringComparison.Ordinal)))
        {
            await response.AssertStatusAsync((HttpStatusCode)status, reason);
        }

        var after = await host.Service<IGrainFactory>().GetGrain<IPolicyGrain>(ns).Get();
        Assert.True(before.Version == after.Version, what);
        Assert.Equal(["namespace-admin"], after.Bindings.Select(b => b.Name));
    }

    [Fact]
    public async Task ABadClusterBindingOrNamespaceIsRefused()
    {
        var host = await PolicyRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var before = await host.Service<IGrainFactory>().GetGrain<IPolicyGrain>(ScopePolicy.RegistryScope).Get();
        using (var repository = await PolicyRegistry.ApiAsync(admin, HttpMethod.Post, "/clusterrolebindings", PolicyRegistry.Binding("r" + PolicyRegistry.NewNamespace(), Roles.Viewer, [PolicyRegistry.User("x")]) is Dictionary<string, object?> d ? d.Append(KeyValuePair.Create("repository", (object?)"app")).ToDictionary() : null))
        {
            await repository.AssertStatusAsync(HttpStatusCode.UnprocessableEntity, "Invalid");
        }

        using (var text = new HttpRequestMessage(HttpMethod.Post, PolicyEndpoints.Prefix + "/clusterrolebindings") { Content = new StringContent("name: a") })
        using (var response = await admin.SendAsync(text))
        {
            await response.AssertStatusAsync(HttpStatusCode.UnsupportedMediaType, "UnsupportedMediaType");
        }

        foreach (var name in new[] { "Upper", "a/b", "*", "", new string('a', 129) })
        {
            using var response = await PolicyRegistry.ApiAsync(admin, HttpMethod.Post, "/namespaces", new { metadata = new { name } });
            await response.AssertStatusAsync(HttpStatusCode.UnprocessableEntity, "Invalid");
        }

        Assert.Equal(before.Version, (await host.Service<IGrainFactory>().GetGrain<IPolicyGrain>(ScopePolicy.RegistryScope).Get()).Version);
    }

    [Fact]
    public async Task PushingIntoANamespaceThatDoesNotExistIsDeniedUnlessThePusherMayCreateIt()
    {
        var host = await PolicyRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var (pusher, pusherAuth) = await PolicyRegistry.NewUserAsync(host);
        var (creator, creatorAuth) = await PolicyRegistry.NewUserAsync(host);
        await PolicyRegistry.BindAsync(admin, null, Roles.Pusher, [PolicyRegistry.User(pusher)]);
        await PolicyRegistry.BindAsync(admin, null, Roles.NamespaceCreator, [PolicyRegistry.User(creator)]);
        var ns = PolicyRegistry.NewNamespace();

        using (var asPusher = PolicyRegistry.Client(host, pusherAuth))
        using (var denied = await asPusher.PostAsync($"/v2/{ns}/app/blobs/uploads/", null))
        {
            await denied.AssertErrorAsync(HttpStatusCode.Forbidden, "DENIED");
        }

        Assert.False((await host.Service<IGrainFactory>().GetGrain<IPolicyGrain>(ns).Get()).Exists);

        // The first push creates it, with its pusher as admin, who may then manage it.
        using var asCreator = PolicyRegistry.Client(host, creatorAuth);
        await asCreator.PushImageAsync($"{ns}/app", "v1", layers: 1);
        using (var read = await PolicyRegistry.ApiAsync(asCreator, HttpMethod.Get, $"/namespaces/{ns}/rolebindings/namespace-admin"))
        {
            Assert.Equal(creator, (await read.JsonAsync(HttpStatusCode.OK)).GetProperty("subjects")[0].GetProperty("name").GetString());
        }

        await PolicyRegistry.BindAsync(asCreator, ns, Roles.Viewer, [PolicyRegistry.User(pusher)]);

        // The registry-scope pusher may push there now that it exists.
        using var pusherNow = PolicyRegistry.Client(host, pusherAuth);
        await pusherNow.PushImageAsync($"{ns}/other", "v1", layers: 1);
    }

    [Fact]
    public async Task WithoutCreateOnPushANamespaceCreatorCreatesThroughTheApiOnly()
    {
        var host = await AccessRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var (creator, auth) = await PolicyRegistry.NewUserAsync(host);
        await PolicyRegistry.BindAsync(admin, null, Roles.NamespaceCreator, [PolicyRegistry.User(creator)]);
        using var asCreator = PolicyRegistry.Client(host, auth);
        var ns = PolicyRegistry.NewNamespace();

        using (var denied = await asCreator.PostAsync($"/v2/{ns}/app/blobs/uploads/", null))
        {
            await denied.AssertErrorAsync(HttpStatusCode.Forbidden, "DENIED");
        }

        await PolicyRegistry.CreateNamespaceAsync(asCreator, ns);
        await asCreator.PushImageAsync($"{ns}/app", "v1", layers: 1);
    }

    [Fact]
    public async Task AUsersOwnNamespaceIsItsAndItsFirstBindingCreatesIt()
    {
        var host = await PolicyRegistry.GetAsync();
        var (owner, ownerAuth) = await PolicyRegistry.NewUserAsync(host);
        var (friend, friendAuth) = await PolicyRegistry.NewUserAsync(host);
        using var asOwner = PolicyRegistry.Client(host, ownerAuth);
        await asOwner.PushImageAsync($"{owner}/app", "v1", layers: 1);

        await PolicyRegistry.BindAsync(asOwner, owner, Roles.Viewer, [PolicyRegistry.User(friend)]);

        using var asFriend = PolicyRegistry.Client(host, friendAuth);
        using (var pull = await asFriend.GetAsync($"/v2/{owner}/app/manifests/v1"))
        {
            Assert.Equal(HttpStatusCode.OK, pull.StatusCode);
        }

        using var push = await asFriend.PostAsync($"/v2/{owner}/app/blobs/uploads/", null);
        await push.AssertErrorAsync(HttpStatusCode.Forbidden, "DENIED");
    }

    [Fact]
    public async Task APublicNamespaceIsPulledAnonymouslyWhileAPrivateOneIsChallenged()
    {
        var host = await PolicyRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var (open, closed) = (PolicyRegistry.NewNamespace(), PolicyRegistry.NewNamespace());
        await PolicyRegistry.CreateNamespaceAsync(admin, open);
        await PolicyRegistry.CreateNamespaceAsync(admin, closed);
        await admin.PushImageAsync($"{open}/app", "v1", layers: 1);
        await admin.PushImageAsync($"{closed}/app", "v1", layers: 1);
        await PolicyRegistry.BindAsync(admin, open, Roles.Viewer, [PolicyRegistry.Group(BuiltInGroups.Anonymous)]);
        using var anonymous = PolicyRegistry.Client(host, null);

        var token = await AccessRegistry.TokenAsync(host, null, null, $"repository:{open}/app:pull,push", $"repository:{closed}/app:pull");
        Assert.Equal([$"repository:{open}/app:pull"], AccessRegistry.GrantedScopes(token));
        using (var direct = await anonymous.GetAsync($"/v2/{open}/app/manifests/v1"))
        {
            Assert.Equal(HttpStatusCode.OK, direct.StatusCode);
        }

        foreach (var path in new[] { "/v2/", $"/v2/{closed}/app/manifests/v1", $"/v2/{closed}/app/tags/list" })
        {
            using var challenged = await anonymous.GetAsync(path);
            await challenged.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
            Assert.Equal("Bearer", challenged.Headers.WwwAuthenticate.Single().Scheme);
        }

        using var push = await anonymous.PostAsync($"/v2/{open}/app/blobs/uploads/", null);
        await push.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
    }

    [Fact]
    public async Task ADecisionOnCachedPolicyCompletesSynchronouslyAndAChangeMadeElsewhereIsSeenWithinASecond()
    {
        var host = await PolicyRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var ns = PolicyRegistry.NewNamespace();
        await PolicyRegistry.CreateNamespaceAsync(admin, ns);
        var (user, _) = await PolicyRegistry.NewUserAsync(host);
        var identity = new Identity(user, [BuiltInGroups.Authenticated], false);
        var authorizer = host.Service<Authorizer>();
        var pull = AccessItem.Repo($"{ns}/app", Actions.Pull);
        Assert.False(await authorizer.AllowsAsync(identity, pull));
        Assert.True(authorizer.GrantAsync(identity, pull).IsCompletedSuccessfully);

        // Written straight to the grain, as another replica would: this process learns of it only by polling.
        var clock = Stopwatch.StartNew();
        var result = await host.Service<IGrainFactory>().GetGrain<IPolicyGrain>(ns).PutBinding(new RoleBinding("direct", Roles.Viewer, [new PolicySubject(PolicySubject.User, user)], null, 0, default), create: true, 0);
        Assert.Equal(PolicyOutcome.Done, result.Outcome);
        await Eventually.HoldsAsync(() => authorizer.GrantAsync(identity, pull) is { IsCompletedSuccessfully: true, Result.Count: 1 }, "the binding is enforced");
        output.WriteLine($"a change written to the grain was enforced from the cache after {clock.Elapsed.TotalMilliseconds:F0} ms");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"took {clock.Elapsed}");
    }

    private static string Json(object value) => JsonSerializer.Serialize(value);
}
