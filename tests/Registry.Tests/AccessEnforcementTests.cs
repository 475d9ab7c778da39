using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Registry.Api.Access;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>Access control on every endpoint: the catalog, tags, referrers, mounts, the watch and /apis.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class AccessEnforcementTests
{
    private static HttpClient Client(RegistryHost host, AuthenticationHeaderValue? auth)
    {
        var client = new HttpClient { BaseAddress = host.BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        client.DefaultRequestHeaders.Authorization = auth;
        return client;
    }

    private static AuthenticationHeaderValue Admin => AccessRegistry.Basic(AdminBootstrap.AdminName, AccessRegistry.AdminPassword);

    [Fact]
    public async Task TheCatalogListsOnlyPullableRepositoriesWithExactPaging()
    {
        var host = await AccessRegistry.GetAsync();
        var (user, password) = await AccessRegistry.NewUserAsync(host);
        using var basic = Client(host, AccessRegistry.Basic(user, password));
        using var admin = Client(host, Admin);
        var other = SharedRegistry.UniqueName("acc");
        await admin.PushBlobAsync(other, Oci.RandomBytes(10));
        foreach (var repo in new[] { "a", "b", "c" })
        {
            await basic.PushBlobAsync($"{user}/{repo}", Oci.RandomBytes(10));
        }

        using (var first = await basic.GetAsync("/v2/_catalog?n=2"))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            Assert.Equal([$"{user}/a", $"{user}/b"], await Repositories(first));
            Assert.Equal($"</v2/_catalog?n=2&last={Uri.EscapeDataString($"{user}/b")}>; rel=\"next\"", first.Header("Link"));
        }

        using (var second = await basic.GetAsync($"/v2/_catalog?n=2&last={Uri.EscapeDataString($"{user}/b")}"))
        {
            Assert.Equal([$"{user}/c"], await Repositories(second));
            Assert.False(second.Headers.Contains("Link"));
        }

        // A page that ends exactly with the last visible name has no next page.
        using (var exact = await basic.GetAsync("/v2/_catalog?n=3"))
        {
            Assert.Equal(3, (await Repositories(exact)).Count);
            Assert.False(exact.Headers.Contains("Link"));
        }

        // A token without registry:catalog:* lists by its account's policy; an admin sees everything.
        var token = await AccessRegistry.TokenAsync(host, user, password, $"repository:{user}/a:pull");
        using var bearer = Client(host, new("Bearer", token));
        Assert.Equal([$"{user}/a", $"{user}/b", $"{user}/c"], await bearer.CatalogAsync());
        var everything = await admin.CatalogAsync();
        Assert.Contains(other, everything);
        Assert.Contains($"{user}/c", everything);
        var catalogToken = await AccessRegistry.TokenAsync(host, AdminBootstrap.AdminName, AccessRegistry.AdminPassword, "registry:catalog:*");
        using var full = Client(host, new("Bearer", catalogToken));
        Assert.Contains(other, await full.CatalogAsync());
    }

    [Fact]
    public async Task AnAnonymousCatalogIsSentIntoTheTokenFlowWhenItMayPullNothing()
    {
        var host = await AccessRegistry.GetAsync();

        using var response = await host.Client.GetAsync("/v2/_catalog");

        await response.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        Assert.Contains("scope=\"registry:catalog:*\"", response.Headers.WwwAuthenticate.Single().Parameter, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TagsListsAndReferrersNeedPull()
    {
        var host = await AccessRegistry.GetAsync();
        var (user, password) = await AccessRegistry.NewUserAsync(host);
        using var admin = Client(host, Admin);
        var name = SharedRegistry.UniqueName("acc");
        var (digest, _) = await admin.PushImageAsync(name, "v1", layers: 1);
        using var basic = Client(host, AccessRegistry.Basic(user, password));

        foreach (var path in new[] { $"/v2/{name}/tags/list", $"/v2/{name}/referrers/{digest}" })
        {
            using (var denied = await basic.GetAsync(path))
            {
                await denied.AssertErrorAsync(HttpStatusCode.Forbidden, "DENIED");
            }

            using (var anonymous = await host.Client.GetAsync(path))
            {
                await anonymous.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
                Assert.Contains($"scope=\"repository:{name}:pull\"", anonymous.Headers.WwwAuthenticate.Single().Parameter, StringComparison.Ordinal);
            }

            using var allowed = await admin.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        }
    }

    [Fact]
    public async Task AMountWithoutFromTakesTheBlobOnlyFromARepositoryTheCallerMayPull()
    {
        var host = await AccessRegistry.GetAsync();
        var (user, password) = await AccessRegistry.NewUserAsync(host);
        using var admin = Client(host, Admin);
        using var basic = Client(host, AccessRegistry.Basic(user, password));
        var secret = Oci.RandomBytes(1000);
        await admin.PushBlobAsync(SharedRegistry.UniqueName("acc"), secret);
        var own = Oci.RandomBytes(1000);
        await basic.PushBlobAsync($"{user}/source", own);

        // Knowing a digest is not reading it: a normal upload starts.
        using (var refused = await basic.PostAsync($"/v2/{user}/app/blobs/uploads/?mount={Oci.Digest(secret)}", null))
        {
            Assert.Equal(HttpStatusCode.Accepted, refused.StatusCode);
        }

        using (var head = await basic.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/{user}/app/blobs/{Oci.Digest(secret)}")))
        {
            Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
        }

        using (var mounted = await basic.PostAsync($"/v2/{user}/app/blobs/uploads/?mount={Oci.Digest(own)}", null))
        {
            Assert.Equal(HttpStatusCode.Created, mounted.StatusCode);
        }

        Assert.Equal(own, await basic.GetByteArrayAsync($"/v2/{user}/app/blobs/{Oci.Digest(own)}"));

        // An admin may pull everything: it mounts from the whole store, as with access control off.
        using var byAdmin = await admin.PostAsync($"/v2/{SharedRegistry.UniqueName("acc")}/blobs/uploads/?mount={Oci.Digest(secret)}", null);
        Assert.Equal(HttpStatusCode.Created, byAdmin.StatusCode);
    }

    [Fact]
    public async Task TheWatchRefusesAsKubernetesStatusAndSkipsEventsOfRepositoriesTheCallerMayNotPull()
    {
        var host = await AccessRegistry.GetAsync();
        var (user, password) = await AccessRegistry.NewUserAsync(host);
        var name = SharedRegistry.UniqueName("acw");
        var ns = name[..name.IndexOf('/', StringComparison.Ordinal)];
        var repository = name[(ns.Length + 1)..];

        using (var anonymous = await host.Client.GetAsync($"/apis/registry/v1/watch?namespace={ns}"))
        {
            await AssertStatusAsync(anonymous, HttpStatusCode.Unauthorized, "Unauthorized");
            Assert.StartsWith("Bearer realm=", anonymous.Headers.WwwAuthenticate.Single().ToString(), StringComparison.Ordinal);
        }

        using (var bad = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/apis/registry/v1/watch?namespace={ns}", AccessRegistry.Basic(user, "wrong")))
        {
            await AssertStatusAsync(bad, HttpStatusCode.Unauthorized, "Unauthorized");
            Assert.Contains("error=\"invalid_token\"", bad.Headers.WwwAuthenticate.Single().Parameter, StringComparison.Ordinal);
        }

        using (var forbidden = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/apis/registry/v1/watch?namespace={ns}&repository={repository}", AccessRegistry.Basic(user, password)))
        {
            await AssertStatusAsync(forbidden, HttpStatusCode.Forbidden, "Forbidden");
        }

        // The whole namespace: admitted, but the user sees only what it may pull (here nothing,
        // so the event moves its resume point in an id-only block), while an admin sees it.
        using var userClient = Client(host, AccessRegistry.Basic(user, password));
        using var adminClient = Client(host, Admin);
        await using var userWatch = await WatchStream.OpenAsync(userClient, $"namespace={ns}");
        await using var adminWatch = await WatchStream.OpenAsync(adminClient, $"namespace={ns}");
        await adminClient.PushBlobAsync(name, Oci.RandomBytes(10));

        var seen = await adminWatch.NextAsync();
        Assert.Equal(name, seen.Repository);
        await Eventually.HoldsAsync(() => userWatch.LastEventId == seen.Id, "the user's watch moved past the hidden event");
        Assert.False(userWatch.TryNext(out _));
    }

    [Fact]
    public async Task ABearerTokenActsOnApisAsItsAccountsCurrentPolicyAndStopsWhenTheAccountIsDeleted()
    {
        var host = await AccessRegistry.GetAsync();
        var (user, password) = await AccessRegistry.NewUserAsync(host);
        var token = await AccessRegistry.TokenAsync(host, user, password, $"repository:{user}/app:pull");

        var review = await WhoAmIAsync(host, new("Bearer", token), HttpStatusCode.OK);
        Assert.Equal("SelfSubjectReview", review.GetProperty("kind").GetString());
        var info = review.GetProperty("status").GetProperty("userInfo");
        Assert.Equal(user, info.GetProperty("username").GetString());
        Assert.Contains(BuiltInGroups.Authenticated, info.GetProperty("groups").EnumerateArray().Select(g => g.GetString()));
        Assert.False(info.TryGetProperty("extra", out _));

        // The admin's token carries no admin claim; the account's policy says it is one.
        var adminToken = await AccessRegistry.TokenAsync(host, AdminBootstrap.AdminName, AccessRegistry.AdminPassword);
        var adminInfo = (await WhoAmIAsync(host, new("Bearer", adminToken), HttpStatusCode.OK)).GetProperty("status").GetProperty("userInfo");
        Assert.Equal(["true"], adminInfo.GetProperty("extra").GetProperty(SelfSubjectReviewEndpoint.AdminExtra).EnumerateArray().Select(v => v.GetString()));

        var anonymous = (await WhoAmIAsync(host, null, HttpStatusCode.OK)).GetProperty("status").GetProperty("userInfo");
        Assert.Equal(BuiltInGroups.Anonymous, anonymous.GetProperty("username").GetString());
        await WhoAmIAsync(host, new("Bearer", token + "x"), HttpStatusCode.Unauthorized);

        // A deleted account's token stops within the identity cache time (10 s), long before it expires.
        await host.Service<IGrainFactory>().GetGrain<IAccountGrain>(user).Delete();
        await Poll.UntilAsync(
            async () =>
            {
                using var response = await AccessRegistry.SendAsync(host, HttpMethod.Get, SelfSubjectReviewEndpoint.Path, new("Bearer", token));
                return response.StatusCode == HttpStatusCode.Unauthorized;
            },
            "the deleted account's token is refused on /apis");
    }

    [Fact]
    public async Task MetricsArePublicByDefault()
    {
        var host = await AccessRegistry.GetAsync();

        using var response = await host.Client.GetAsync("/metrics");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task MetricsForAdminsOnlyRefuseAnonymousAndOtherUsers()
    {
        await using var host = await RegistryHost.StartAsync(null, "--Registry:Access:Enabled=true", $"--Registry:Access:AdminPassword={AccessRegistry.AdminPassword}", "--Registry:Access:Metrics=Admin");
        var (user, password) = await AccessRegistry.NewUserAsync(host);

        using (var anonymous = await host.Client.GetAsync("/metrics"))
        {
            await AssertStatusAsync(anonymous, HttpStatusCode.Unauthorized, "Unauthorized");
            Assert.True(anonymous.Headers.WwwAuthenticate.Count > 0);
        }

        using (var other = await AccessRegistry.SendAsync(host, HttpMethod.Get, "/metrics", AccessRegistry.Basic(user, password)))
        {
            await AssertStatusAsync(other, HttpStatusCode.Forbidden, "Forbidden");
        }

        using var admin = await AccessRegistry.SendAsync(host, HttpMethod.Get, "/metrics", Admin);
        Assert.Equal(HttpStatusCode.OK, admin.StatusCode);
        Assert.Contains("# TYPE", await admin.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    internal static async Task<JsonElement> WhoAmIAsync(RegistryHost host, AuthenticationHeaderValue? auth, HttpStatusCode expected)
    {
        using var response = await AccessRegistry.SendAsync(host, HttpMethod.Get, SelfSubjectReviewEndpoint.Path, auth);
        Assert.Equal(expected, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync());
        return json.RootElement.Clone();
    }

    internal static async Task AssertStatusAsync(HttpResponseMessage response, HttpStatusCode status, string reason)
    {
        Assert.Equal(status, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal("Status", json.RootElement.GetProperty("kind").GetString());
        Assert.Equal(reason, json.RootElement.GetProperty("reason").GetString());
        Assert.Equal((int)status, json.RootElement.GetProperty("code").GetInt32());
    }

    private static async Task<List<string>> Repositories(HttpResponseMessage response)
    {
        using var json = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync());
        return [.. json.RootElement.GetProperty("repositories").EnumerateArray().Select(r => r.GetString()!)];
    }
}
