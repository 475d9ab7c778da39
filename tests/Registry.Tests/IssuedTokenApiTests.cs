using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Registry.Api.Access;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>
/// A token from <c>/auth/token</c> on <c>/apis</c> acts as the subject it was issued to, by that
/// subject's current policy: a robot (its confinement; revoked, the token stops), an OIDC user
/// (the groups of its ID token, no account needed). The token's kind is part of the decision, so
/// no name stands for a subject of another kind.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class IssuedTokenApiTests
{
    private const string GarbageCollectionLast = "/apis/registry/v1/garbagecollections/last";

    private static string Stream(string ns, string name = "app") => $"/apis/image.openshift.io/v1/namespaces/{ns}/imagestreams/{name}";

    private static async Task<HttpStatusCode> StatusAsync(RegistryHost host, string path, AuthenticationHeaderValue auth)
    {
        using var response = await AccessRegistry.SendAsync(host, HttpMethod.Get, path, auth);
        return response.StatusCode;
    }

    private static async Task<JsonElement> UserInfoAsync(RegistryHost host, string token)
        => (await AccessEnforcementTests.WhoAmIAsync(host, new("Bearer", token), HttpStatusCode.OK)).GetProperty("status").GetProperty("userInfo");

    private static string[] Groups(JsonElement info) => [.. info.GetProperty("groups").EnumerateArray().Select(g => g.GetString()!)];

    /// <summary>A user and a robot <c>ci</c> it creates in its namespace, with an image pushed there; the namespace, the owner's credentials, the robot's login and secret.</summary>
    private static async Task<(string Ns, AuthenticationHeaderValue Owner, string Login, string Secret)> NewRobotAsync(RegistryHost host)
    {
        var (user, password) = await AccessRegistry.NewUserAsync(host);
        var owner = AccessRegistry.Basic(user, password);
        var (login, secret) = await CreateRobotAsync(host, user, owner);
        using var client = PolicyRegistry.Client(host, AccessRegistry.Basic(login, secret));
        await client.PushImageAsync($"{user}/app", "v1", layers: 1);
        return (user, owner, login, secret);
    }

    private static async Task<(string Login, string Secret)> CreateRobotAsync(RegistryHost host, string ns, AuthenticationHeaderValue owner)
    {
        var created = await IdentityApi.SendAsync(host, HttpMethod.Post, IdentityApi.Robots(ns), owner, """{"apiVersion":"registry/v1","kind":"Robot","metadata":{"name":"ci"},"spec":{"actions":["pull","push"]}}""");
        Assert.Equal(HttpStatusCode.Created, created.Status);
        var status = created.Body.GetProperty("status");
        return (status.GetProperty("loginName").GetString()!, status.GetProperty("secret").GetString()!);
    }

    [Fact]
    public async Task ARobotsIssuedTokenActsOnApisAsTheRobotUntilItIsRevoked()
    {
        var host = await AccessRegistry.GetAsync();
        var (ns, owner, login, secret) = await NewRobotAsync(host);
        var (other, otherPassword) = await AccessRegistry.NewUserAsync(host);
        using (var client = PolicyRegistry.Client(host, AccessRegistry.Basic(other, otherPassword)))
        {
            await client.PushImageAsync($"{other}/app", "v1", layers: 1);
        }

        var token = await AccessRegistry.TokenAsync(host, login, secret, $"repository:{ns}/app:pull");
        var bearer = new AuthenticationHeaderValue("Bearer", token);
        Assert.Equal(login, new JsonWebToken(token).Subject);

        // Its namespace by the robot's own actions, not the token's grant; outside its confinement, nothing.
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(host, Stream(ns), bearer));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(host, Stream(other), bearer));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(host, GarbageCollectionLast, bearer));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(host, $"{PolicyEndpoints.Prefix}/namespaces/{ns}/rolebindings", bearer));
        var info = await UserInfoAsync(host, token);
        Assert.Equal(login, info.GetProperty("username").GetString());
        Assert.Contains(BuiltInGroups.Robots, Groups(info));

        // Revoked: refused on /apis at once (the robot is read on every request).
        Assert.Equal(HttpStatusCode.OK, (await IdentityApi.SendAsync(host, HttpMethod.Delete, IdentityApi.Robots(ns) + "/ci", owner)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(host, Stream(ns), bearer));
        await AccessEnforcementTests.WhoAmIAsync(host, bearer, HttpStatusCode.Unauthorized);

        // On /v2 the token's grant decides, as before: it lives out its lifetime there.
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(host, $"/v2/{ns}/app/tags/list", bearer));

        // A robot created again under the same name has another secret: the old robot's token is not its.
        var (_, newSecret) = await CreateRobotAsync(host, ns, owner);
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(host, Stream(ns), bearer));
        var renewed = await AccessRegistry.TokenAsync(host, login, newSecret, $"repository:{ns}/app:pull");
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(host, Stream(ns), new("Bearer", renewed)));
    }

    [Fact]
    public async Task TheUsersAndRobotsApisTakeIssuedTokensByCurrentPolicyButAPasswordChangeNeedsThePassword()
    {
        var host = await AccessRegistry.GetAsync();
        var (ns, password) = await AccessRegistry.NewUserAsync(host);
        var (login, secret) = await CreateRobotAsync(host, ns, AccessRegistry.Basic(ns, password));
        var owner = new AuthenticationHeaderValue("Bearer", await AccessRegistry.TokenAsync(host, ns, password));
        var robot = new AuthenticationHeaderValue("Bearer", await AccessRegistry.TokenAsync(host, login, secret));
        var admin = new AuthenticationHeaderValue("Bearer", await AccessRegistry.TokenAsync(host, AdminBootstrap.AdminName, AccessRegistry.AdminPassword));

        // The namespace's admin lists its robots, a robot reads itself, the registry admin lists users: none of it is in a token's grant.
        Assert.Equal(HttpStatusCode.OK, (await IdentityApi.SendAsync(host, HttpMethod.Get, IdentityApi.Robots(ns), owner)).Status);
        Assert.Equal(HttpStatusCode.OK, (await IdentityApi.SendAsync(host, HttpMethod.Get, IdentityApi.Robots(ns) + "/ci", robot)).Status);
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Get, IdentityApi.Robots(ns), robot), HttpStatusCode.Forbidden, "Forbidden");
        Assert.Equal(HttpStatusCode.OK, (await IdentityApi.SendAsync(host, HttpMethod.Get, IdentityApi.Users, admin)).Status);

        // A user's own account is its password's business, not a token's.
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Put, $"{IdentityApi.Users}/{ns}", owner, IdentityApi.UserJson(ns, "another-password")), HttpStatusCode.Forbidden, "Forbidden");
    }

    [Fact]
    public async Task AnOidcUsersIssuedTokenActsOnApisByTheGroupsOfItsIdToken()
    {
        var (host, _) = await OidcRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var (ns, hidden) = (PolicyRegistry.NewNamespace(), PolicyRegistry.NewNamespace());
        var group = "g" + Guid.NewGuid().ToString("N")[..10];
        foreach (var name in new[] { ns, hidden })
        {
            await PolicyRegistry.CreateNamespaceAsync(admin, name);
            await admin.PushImageAsync($"{name}/app", "v1", layers: 1);
        }

        await PolicyRegistry.BindAsync(admin, ns, Roles.Viewer, [PolicyRegistry.Group(group)]);
        var subject = IdentityApi.NewName("oidc");
        var idToken = Issuer.Token(subject, groups: new[] { group });

        // The ID token is the Basic password at GET /auth/token, or the password of the POST form.
        var token = await AccessRegistry.TokenAsync(host, "x", idToken);
        using var form = new FormUrlEncodedContent(new Dictionary<string, string> { ["grant_type"] = "password", ["username"] = "x", ["password"] = idToken, ["scope"] = $"repository:{ns}/app:pull" });
        using var posted = await host.Client.PostAsync(AccessEndpoints.TokenPath, form);
        var postedToken = (await posted.JsonAsync(HttpStatusCode.OK)).GetProperty("access_token").GetString()!;

        foreach (var issued in new[] { token, postedToken })
        {
            var bearer = new AuthenticationHeaderValue("Bearer", issued);
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(host, Stream(ns), bearer));
            Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(host, Stream(hidden), bearer));
            var info = await UserInfoAsync(host, issued);
            Assert.Equal("oidc:" + subject, info.GetProperty("username").GetString());
            Assert.Equal([group, BuiltInGroups.Authenticated], Groups(info));
        }
    }

    [Fact]
    public async Task ATokensKindDecidesWhoItsSubjectIsSoNoNameStandsForAnotherKind()
    {
        var host = await AccessRegistry.GetAsync();
        var tokens = host.Service<TokenService>();
        var (ns, _, login, _) = await NewRobotAsync(host);
        var (user, _) = await AccessRegistry.NewUserAsync(host);
        var robotIdentity = RobotVerifier.ToIdentity(ns, (await host.Service<IGrainFactory>().GetGrain<IRobotsGrain>(ns).Get("ci"))!);

        // What the token endpoint would sign for an account named like the robot, or a robot named like the user: no such subject.
        await AssertRefusedAsync(new Identity(login, [BuiltInGroups.Authenticated], false, Kind: IdentityKind.User));
        await AssertRefusedAsync(robotIdentity with { Name = user });
        await AssertRefusedAsync(robotIdentity with { Fingerprint = new string('0', 24) });

        // An external user named like the registry admin on a registry without OIDC: refused, not the admin.
        await AssertRefusedAsync(new Identity(AdminBootstrap.AdminName, [BuiltInGroups.Authenticated], false, Kind: IdentityKind.External));

        // A token naming no kind (as issued before kinds were written), here the admin's: its grant on /v2, nothing on /apis.
        var name = SharedRegistry.UniqueName("kindless");
        var kindless = new AuthenticationHeaderValue("Bearer", AccessAttackTests.Sign(await AccessAttackTests.OurKeyAsync(host), name, actions: ["pull"]));
        Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(host, $"/v2/{name}/tags/list", kindless));
        await AccessEnforcementTests.WhoAmIAsync(host, kindless, HttpStatusCode.Unauthorized);

        // The real robot's identity signs a working token: the refusals above are about the kind.
        var (valid, _, _) = await tokens.IssueAsync(robotIdentity, []);
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(host, Stream(ns), new("Bearer", valid)));

        async Task AssertRefusedAsync(Identity identity)
        {
            var (token, _, _) = await tokens.IssueAsync(identity, []);
            await AccessEnforcementTests.WhoAmIAsync(host, new("Bearer", token), HttpStatusCode.Unauthorized);
            Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(host, Stream(ns), new("Bearer", token)));
        }
    }

    [Fact]
    public async Task AnOidcUserNamedLikeTheAdminOrARobotGetsNoneOfTheirRights()
    {
        // Without a username prefix an external name may equal an account's or read like a robot's login.
        var (_, jwks) = await OidcRegistry.GetAsync();
        await using var host = await RegistryHost.StartAsync(
            null,
            "--Registry:Access:Enabled=true",
            $"--Registry:Access:AdminPassword={AccessRegistry.AdminPassword}",
            $"--Registry:Access:Oidc:Issuer={Issuer.Url}",
            $"--Registry:Access:Oidc:Audience={Issuer.Audience}",
            $"--Registry:Access:Oidc:JwksUrl={jwks.Url}",
            "--Registry:Access:Oidc:UsernamePrefix=-");
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var adminToken = await AccessRegistry.TokenAsync(host, AdminBootstrap.AdminName, AccessRegistry.AdminPassword);
        Assert.True((await UserInfoAsync(host, adminToken)).TryGetProperty("extra", out _));

        var asAdmin = await AccessRegistry.TokenAsync(host, "x", Issuer.Token(AdminBootstrap.AdminName));
        Assert.Equal(AdminBootstrap.AdminName, new JsonWebToken(asAdmin).Subject);
        var info = await UserInfoAsync(host, asAdmin);
        Assert.Equal(AdminBootstrap.AdminName, info.GetProperty("username").GetString());
        Assert.False(info.TryGetProperty("extra", out _));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(host, GarbageCollectionLast, new("Bearer", asAdmin)));

        // A robot's binding and its own actions belong to the robot, not to an external user of its login name.
        var ns = PolicyRegistry.NewNamespace();
        await PolicyRegistry.CreateNamespaceAsync(admin, ns);
        await admin.PushImageAsync($"{ns}/app", "v1", layers: 1);
        await PolicyRegistry.BindAsync(admin, ns, Roles.Viewer, [new { kind = "ServiceAccount", name = "ci" }]);
        var (login, secret) = await CreateRobotAsync(host, ns, PolicyRegistry.Admin);
        var robotToken = await AccessRegistry.TokenAsync(host, login, secret);
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(host, Stream(ns), new("Bearer", robotToken)));

        var idToken = Issuer.Token(login);
        var asRobot = await AccessRegistry.TokenAsync(host, "x", idToken);
        Assert.Equal(login, new JsonWebToken(asRobot).Subject);
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(host, Stream(ns), new("Bearer", asRobot)));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(host, Stream(ns), new("Bearer", idToken)));
        Assert.DoesNotContain(BuiltInGroups.Robots, Groups(await UserInfoAsync(host, asRobot)));
    }
}
