using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Registry.Api.Access;
using Registry.Grains;

namespace Registry.Tests;

[Trait("Category", TestCategories.Fast)]
public sealed class RobotTests
{
    /// <summary>A user (admin of the namespace of its name) and a robot it created there; the robot's login and secret.</summary>
    private static async Task<(string Ns, AuthenticationHeaderValue Owner, string Login, string Secret)> NewRobotAsync(RegistryHost host, string spec = "\"actions\":[\"pull\",\"push\"]")
    {
        var (user, password) = await AccessRegistry.NewUserAsync(host);
        var owner = AccessRegistry.Basic(user, password);
        var created = await IdentityApi.SendAsync(host, HttpMethod.Post, IdentityApi.Robots(user), owner, $"{{\"apiVersion\":\"registry/v1\",\"kind\":\"Robot\",\"metadata\":{{\"name\":\"ci\"}},\"spec\":{{{spec}}}}}");
        Assert.Equal(HttpStatusCode.Created, created.Status);
        var status = created.Body.GetProperty("status");
        return (user, owner, status.GetProperty("loginName").GetString()!, status.GetProperty("secret").GetString()!);
    }

    private static async Task<HttpStatusCode> StatusAsync(RegistryHost host, HttpMethod method, string path, AuthenticationHeaderValue auth)
    {
        using var response = await AccessRegistry.SendAsync(host, method, path, auth);
        return response.StatusCode;
    }

    [Fact]
    public async Task ARobotPushesAndPullsInItsNamespaceWithBasicOrBearerAndNowhereElse()
    {
        var host = await AccessRegistry.GetAsync();
        var (ns, _, login, secret) = await NewRobotAsync(host);
        Assert.Equal($"{ns}+ci", login);
        Assert.StartsWith(RobotSecret.Prefix, secret, StringComparison.Ordinal);

        using var basic = new HttpClient { BaseAddress = host.BaseAddress };
        basic.DefaultRequestHeaders.Authorization = AccessRegistry.Basic(login, secret);
        var (digest, manifest) = await basic.PushImageAsync($"{ns}/app", "v1", layers: 1);

        using var bearer = new HttpClient { BaseAddress = host.BaseAddress };
        bearer.DefaultRequestHeaders.Authorization = new("Bearer", secret);
        Assert.Equal(manifest, await bearer.GetByteArrayAsync($"/v2/{ns}/app/manifests/{digest}"));

        var other = SharedRegistry.UniqueName("robot");
        using (var denied = await basic.PostAsync($"/v2/{other}/blobs/uploads/", null))
        {
            await denied.AssertErrorAsync(HttpStatusCode.Forbidden, "DENIED");
        }

        // The catalog lists only the robot's repositories.
        using (var catalog = await bearer.GetAsync("/v2/_catalog?n=1000"))
        {
            Assert.Equal(HttpStatusCode.OK, catalog.StatusCode);
            var listing = await catalog.Content.ReadAsStringAsync();
            Assert.Contains($"\"{ns}/app\"", listing);
            Assert.DoesNotContain(other, listing);
        }

        // The token endpoint takes the robot's Basic credentials and grants only its scope.
        var token = await AccessRegistry.TokenAsync(host, login, secret, $"repository:{ns}/app:pull,push", $"repository:{other}:pull", "registry:catalog:*");
        Assert.Equal([$"repository:{ns}/app:pull,push"], AccessRegistry.GrantedScopes(token));

        // A wrong secret, another robot's name with this secret, or the user's name with it: all refused.
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(host, HttpMethod.Get, $"/v2/{ns}/app/tags/list", AccessRegistry.Basic(login, secret[..^1] + (secret[^1] == 'A' ? 'B' : 'A'))));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(host, HttpMethod.Get, $"/v2/{ns}/app/tags/list", AccessRegistry.Basic($"{ns}+other", secret)));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(host, HttpMethod.Get, $"/v2/{ns}/app/tags/list", AccessRegistry.Basic(ns, secret)));
    }

    [Fact]
    public async Task ARobotWithAListOfRepositoriesAndOnlyPullIsConfinedToThem()
    {
        var host = await AccessRegistry.GetAsync();
        var (user, password) = await AccessRegistry.NewUserAsync(host);
        using (var owner = new HttpClient { BaseAddress = host.BaseAddress })
        {
            owner.DefaultRequestHeaders.Authorization = AccessRegistry.Basic(user, password);
            await owner.PushImageAsync($"{user}/one", "v1", layers: 1);
            await owner.PushImageAsync($"{user}/two", "v1", layers: 1);
        }

        var created = await IdentityApi.SendAsync(host, HttpMethod.Post, IdentityApi.Robots(user), AccessRegistry.Basic(user, password), $"{{\"metadata\":{{\"name\":\"puller\"}},\"spec\":{{\"repositories\":[\"{user}/one\"]}}}}");
        Assert.Equal(HttpStatusCode.Created, created.Status);
        Assert.Equal(["pull"], created.Body.GetProperty("spec").GetProperty("actions").EnumerateArray().Select(a => a.GetString()));
        var robot = new AuthenticationHeaderValue("Bearer", created.Body.GetProperty("status").GetProperty("secret").GetString());

        Assert.Equal(HttpStatusCode.OK, await StatusAsync(host, HttpMethod.Get, $"/v2/{user}/one/manifests/v1", robot));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(host, HttpMethod.Get, $"/v2/{user}/two/manifests/v1", robot));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(host, HttpMethod.Post, $"/v2/{user}/one/blobs/uploads/", robot));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(host, HttpMethod.Delete, $"/v2/{user}/one/manifests/v1", robot));
    }

    [Fact]
    public async Task ARobotCreatesNoRobotsAndAdministersNothingNotEvenItsOwnNamespace()
    {
        var host = await AccessRegistry.GetAsync();
        var (ns, _, login, secret) = await NewRobotAsync(host, "\"actions\":[\"pull\",\"push\",\"delete\",\"overwrite\"]");
        var body = "{\"metadata\":{\"name\":\"escalated\"}}";

        foreach (var auth in new AuthenticationHeaderValue[] { new("Bearer", secret), AccessRegistry.Basic(login, secret) })
        {
            IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Post, IdentityApi.Robots(ns), auth, body), HttpStatusCode.Forbidden, "Forbidden");
            IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Get, IdentityApi.Robots(ns), auth), HttpStatusCode.Forbidden, "Forbidden");
            IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Delete, IdentityApi.Robots(ns) + "/ci", auth), HttpStatusCode.Forbidden, "Forbidden");
            IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Get, IdentityApi.Users, auth), HttpStatusCode.Forbidden, "Forbidden");
        }

        Assert.Null(await host.Service<IGrainFactory>().GetGrain<IRobotsGrain>(ns).Get("escalated"));

        // The rule behind it, for every namespace item (robots, bindings) and the registry: a robot's confinement holds repositories only.
        var identity = (await host.Service<RobotVerifier>().VerifyAsync(null, secret))!;
        var authorizer = host.Service<Authorizer>();
        Assert.Contains(BuiltInGroups.Authenticated, identity.Groups);
        Assert.True(await authorizer.AllowsAsync(identity, AccessItem.Repo($"{ns}/app", Actions.Pull, Actions.Push, Actions.Delete, Actions.Overwrite)));
        Assert.False(await authorizer.AllowsAsync(identity, AccessItem.Namespace(ns, Actions.Admin)));
        Assert.False(await authorizer.AllowsAsync(identity, AccessItem.Namespace(ns, Actions.Pull)));
        Assert.False(await authorizer.AllowsAsync(identity, AccessItem.WholeRegistry(Actions.Admin)));
        Assert.False(await authorizer.AllowsAsync(identity, AccessItem.Catalog));

        // A robot may read itself, though.
        var self = await IdentityApi.SendAsync(host, HttpMethod.Get, IdentityApi.Robots(ns) + "/ci", new("Bearer", secret));
        Assert.Equal(HttpStatusCode.OK, self.Status);
    }

    [Fact]
    public async Task OnlyTheNamespaceAdminManagesItsRobots()
    {
        var host = await AccessRegistry.GetAsync();
        var (ns, owner, _, _) = await NewRobotAsync(host);
        var (stranger, password) = await AccessRegistry.NewUserAsync(host);
        var intruder = AccessRegistry.Basic(stranger, password);

        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Post, IdentityApi.Robots(ns), intruder, "{\"metadata\":{\"name\":\"mine\"}}"), HttpStatusCode.Forbidden, "Forbidden");
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Get, IdentityApi.Robots(ns) + "/ci", intruder), HttpStatusCode.Forbidden, "Forbidden");
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Delete, IdentityApi.Robots(ns) + "/ci", intruder), HttpStatusCode.Forbidden, "Forbidden");
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Get, IdentityApi.Robots(ns), null), HttpStatusCode.Unauthorized, "Unauthorized");

        var list = await IdentityApi.SendAsync(host, HttpMethod.Get, IdentityApi.Robots(ns), owner);
        Assert.Equal("RobotList", list.Body.GetProperty("kind").GetString());
        Assert.Equal(["ci"], list.Body.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("metadata").GetProperty("name").GetString()));
        var admin = await IdentityApi.SendAsync(host, HttpMethod.Get, IdentityApi.Robots(ns) + "/ci", IdentityApi.Admin);
        Assert.Equal(HttpStatusCode.OK, admin.Status);

        // The secret is answered once, at creation: never in a list or a read, and its hash never.
        foreach (var answer in new[] { list, admin })
        {
            Assert.DoesNotContain("secret", answer.Body.GetRawText(), StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(RobotSecret.Prefix, answer.Body.GetRawText(), StringComparison.Ordinal);
        }

        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Post, IdentityApi.Robots(ns), owner, "{\"metadata\":{\"name\":\"ci\"}}"), HttpStatusCode.Conflict, "AlreadyExists");
    }

    [Fact]
    public async Task RevocationAndExpiryTakeEffectOnTheNextRequest()
    {
        var host = await AccessRegistry.GetAsync();
        var (ns, owner, login, secret) = await NewRobotAsync(host);
        var path = $"/v2/{ns}/app/tags/list";
        Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(host, HttpMethod.Get, path, AccessRegistry.Basic(login, secret)));
        Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(host, HttpMethod.Get, path, new("Bearer", secret)));

        var revoked = await IdentityApi.SendAsync(host, HttpMethod.Delete, IdentityApi.Robots(ns) + "/ci", owner);
        Assert.Equal(HttpStatusCode.OK, revoked.Status);
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(host, HttpMethod.Get, path, AccessRegistry.Basic(login, secret)));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(host, HttpMethod.Get, path, new("Bearer", secret)));
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Get, IdentityApi.Robots(ns), new("Bearer", secret)), HttpStatusCode.Unauthorized, "Unauthorized");
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Delete, IdentityApi.Robots(ns) + "/ci", owner), HttpStatusCode.NotFound, "NotFound");

        // An expired robot (stored directly: the API refuses a past expiry) is refused like a revoked one.
        var expired = RobotSecret.New(ns, "old");
        var robots = host.Service<IGrainFactory>().GetGrain<IRobotsGrain>(ns);
        await robots.Create(new Robot("old", RobotSecret.Hash(expired), [ns + "/*"], [Actions.Pull], DateTimeOffset.UtcNow.AddSeconds(-1), default, "test", null, 0));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(host, HttpMethod.Get, path, new("Bearer", expired)));
        var listed = await IdentityApi.SendAsync(host, HttpMethod.Get, IdentityApi.Robots(ns) + "/old", owner);
        Assert.True(listed.Body.GetProperty("status").GetProperty("expired").GetBoolean());
    }

    [Fact]
    public async Task TheLastUseIsRecorded()
    {
        var host = await AccessRegistry.GetAsync();
        var (ns, owner, _, secret) = await NewRobotAsync(host);
        var before = await IdentityApi.SendAsync(host, HttpMethod.Get, IdentityApi.Robots(ns) + "/ci", owner);
        Assert.False(before.Body.GetProperty("status").TryGetProperty("lastUsedAt", out _));

        Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(host, HttpMethod.Get, $"/v2/{ns}/app/tags/list", new("Bearer", secret)));

        var robots = host.Service<IGrainFactory>().GetGrain<IRobotsGrain>(ns);
        Robot? robot = null;
        await Eventually.HoldsAsync(() => (robot = robots.Get("ci").AsTask().GetAwaiter().GetResult())?.LastUsedAt is not null, "the robot's use is recorded");
        Assert.True(robot!.LastUsedAt > robot.CreatedAt.AddSeconds(-1));
    }

    [Theory]
    [InlineData("{\"metadata\":{\"name\":\"x\"},\"spec\":{\"repositories\":[\"elsewhere/app\"]}}", HttpStatusCode.UnprocessableEntity, "Invalid")]
    [InlineData("{\"metadata\":{\"name\":\"x\"},\"spec\":{\"repositories\":[\"NS-other/app\"]}}", HttpStatusCode.UnprocessableEntity, "Invalid")]
    [InlineData("{\"metadata\":{\"name\":\"x\"},\"spec\":{\"repositories\":[\"NS/Bad\"]}}", HttpStatusCode.UnprocessableEntity, "Invalid")]
    [InlineData("{\"metadata\":{\"name\":\"x\"},\"spec\":{\"actions\":[\"admin\"]}}", HttpStatusCode.UnprocessableEntity, "Invalid")]
    [InlineData("{\"metadata\":{\"name\":\"x\"},\"spec\":{\"expiresAt\":\"2001-01-01T00:00:00Z\"}}", HttpStatusCode.UnprocessableEntity, "Invalid")]
    [InlineData("{\"metadata\":{\"name\":\"x\"},\"status\":{\"secret\":\"orr_chosen\"}}", HttpStatusCode.BadRequest, "BadRequest")]
    [InlineData("{\"metadata\":{\"name\":\"x\",\"namespace\":\"elsewhere\"}}", HttpStatusCode.BadRequest, "BadRequest")]
    [InlineData("{\"metadata\":{\"name\":\"x\"},\"spec\":{\"admin\":true}}", HttpStatusCode.BadRequest, "BadRequest")]
    [InlineData("{\"metadata\":{\"name\":\"X+y\"}}", HttpStatusCode.UnprocessableEntity, "Invalid")]
    public async Task BadRobotDocumentsGetAStatusAndCreateNothing(string json, HttpStatusCode code, string reason)
    {
        var host = await AccessRegistry.GetAsync();
        var (ns, password) = await AccessRegistry.NewUserAsync(host);

        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Post, IdentityApi.Robots(ns), AccessRegistry.Basic(ns, password), json.Replace("NS", ns, StringComparison.Ordinal)), code, reason);

        Assert.Empty(await host.Service<IGrainFactory>().GetGrain<IRobotsGrain>(ns).List());
    }

    [Fact]
    public void SecretsAreLongRandomAndNameTheirRobot()
    {
        var a = RobotSecret.New("team.a", "ci");
        var b = RobotSecret.New("team.a", "ci");
        Assert.NotEqual(a, b);
        Assert.Equal("team.a+ci", RobotSecret.LoginOf(a));
        Assert.Equal(("team.a", "ci"), RobotSecret.ParseLogin("team.a+ci"));
        Assert.Null(RobotSecret.ParseLogin("a+b+c"));
        Assert.Null(RobotSecret.LoginOf("orr_team+ci.short"));
        Assert.True(RobotSecret.Matches(a, RobotSecret.Hash(a)));
        Assert.False(RobotSecret.Matches(b, RobotSecret.Hash(a)));
        Assert.Equal(64, RobotSecret.Hash(a).Length);
    }
}
