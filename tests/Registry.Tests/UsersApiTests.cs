using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Registry.Api.Access;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>Requests to the <c>/apis</c> identity endpoints, and checks of their Status answers.</summary>
public static class IdentityApi
{
    public const string Users = "/apis/registry/v1/users";

    public static AuthenticationHeaderValue Admin => AccessRegistry.Basic(AdminBootstrap.AdminName, AccessRegistry.AdminPassword);

    public static string Robots(string ns) => $"/apis/registry/v1/namespaces/{ns}/robots";

    public static async Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(RegistryHost host, HttpMethod method, string path, AuthenticationHeaderValue? auth, string? json = null, string contentType = "application/json")
    {
        using var content = json is null ? null : new StringContent(json, Encoding.UTF8);
        if (content is not null)
        {
            content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        }

        using var response = await AccessRegistry.SendAsync(host, method, path, auth, content);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>Asserts a Kubernetes Status failure with <paramref name="code"/> and <paramref name="reason"/>.</summary>
    public static void AssertStatus((HttpStatusCode Status, JsonElement Body) answer, HttpStatusCode code, string reason)
    {
        Assert.Equal(code, answer.Status);
        Assert.Equal("Status", answer.Body.GetProperty("kind").GetString());
        Assert.Equal("Failure", answer.Body.GetProperty("status").GetString());
        Assert.Equal(reason, answer.Body.GetProperty("reason").GetString());
        Assert.Equal((int)code, answer.Body.GetProperty("code").GetInt32());
    }

    public static string UserJson(string name, string? password, string extraSpec = "", string? resourceVersion = null)
    {
        var version = resourceVersion is null ? "" : $",\"resourceVersion\":\"{resourceVersion}\"";
        var secret = password is null ? "" : $"\"password\":\"{password}\"";
        return "{\"apiVersion\":\"registry/v1\",\"kind\":\"User\",\"metadata\":{\"name\":\"" + name + "\"" + version + "},\"spec\":{" + secret + extraSpec + "}}";
    }

    public static string NewName(string prefix = "u") => prefix + Guid.NewGuid().ToString("N")[..12];
}

[Trait("Category", TestCategories.Fast)]
public sealed class UsersApiTests
{
    [Fact]
    public async Task AnAdminCreatesReadsListsChangesAndDeletesAUserAndNoAnswerHoldsTheHash()
    {
        var host = await AccessRegistry.GetAsync();
        var name = IdentityApi.NewName();

        var created = await IdentityApi.SendAsync(host, HttpMethod.Post, IdentityApi.Users, IdentityApi.Admin, IdentityApi.UserJson(name, "first-secret", ",\"groups\":[\"dev\"]"));
        Assert.Equal(HttpStatusCode.Created, created.Status);
        Assert.Equal("User", created.Body.GetProperty("kind").GetString());
        Assert.Equal(["dev"], created.Body.GetProperty("spec").GetProperty("groups").EnumerateArray().Select(g => g.GetString()));
        Assert.False(created.Body.GetProperty("spec").GetProperty("admin").GetBoolean());
        var version = created.Body.GetProperty("metadata").GetProperty("resourceVersion").GetString()!;

        // The new user logs in at once, and pushes to its own namespace.
        using (var login = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{name}/app/tags/list", AccessRegistry.Basic(name, "first-secret")))
        {
            Assert.Equal(HttpStatusCode.NotFound, login.StatusCode);
        }

        var read = await IdentityApi.SendAsync(host, HttpMethod.Get, $"{IdentityApi.Users}/{name}", IdentityApi.Admin);
        Assert.Equal(HttpStatusCode.OK, read.Status);
        Assert.Equal(version, read.Body.GetProperty("metadata").GetProperty("resourceVersion").GetString());

        var list = await IdentityApi.SendAsync(host, HttpMethod.Get, IdentityApi.Users + "?limit=500", IdentityApi.Admin);
        Assert.Equal("UserList", list.Body.GetProperty("kind").GetString());
        var names = list.Body.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("metadata").GetProperty("name").GetString()).ToList();
        Assert.Contains(AdminBootstrap.AdminName, names);

        var changed = await IdentityApi.SendAsync(host, HttpMethod.Put, $"{IdentityApi.Users}/{name}", IdentityApi.Admin, IdentityApi.UserJson(name, "second-secret", ",\"groups\":[\"ops\"],\"admin\":true", version));
        Assert.Equal(HttpStatusCode.OK, changed.Status);
        Assert.True(changed.Body.GetProperty("spec").GetProperty("admin").GetBoolean());
        Assert.NotEqual(version, changed.Body.GetProperty("metadata").GetProperty("resourceVersion").GetString());

        // The old version is stale now: 409, nothing changed.
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Put, $"{IdentityApi.Users}/{name}", IdentityApi.Admin, IdentityApi.UserJson(name, null, "\"admin\":false", version)), HttpStatusCode.Conflict, "Conflict");
        Assert.True((await host.Service<IGrainFactory>().GetGrain<IAccountGrain>(name).Get())!.IsAdmin);

        using (var old = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{name}/app/tags/list", AccessRegistry.Basic(name, "first-secret")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, old.StatusCode);
        }

        var deleted = await IdentityApi.SendAsync(host, HttpMethod.Delete, $"{IdentityApi.Users}/{name}", IdentityApi.Admin);
        Assert.Equal(HttpStatusCode.OK, deleted.Status);
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Get, $"{IdentityApi.Users}/{name}", IdentityApi.Admin), HttpStatusCode.NotFound, "NotFound");
        using (var gone = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{name}/app/tags/list", AccessRegistry.Basic(name, "second-secret")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, gone.StatusCode);
        }

        foreach (var answer in new[] { created, read, list, changed, deleted })
        {
            var text = answer.Body.GetRawText();
            Assert.DoesNotContain("$2", text, StringComparison.Ordinal);
            Assert.DoesNotContain("password", text, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("secret", text, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public async Task AUserChangesItsOwnPasswordButNotItsPrivilegesNorAnyoneElse()
    {
        var host = await AccessRegistry.GetAsync();
        var (user, password) = await AccessRegistry.NewUserAsync(host);
        var (other, _) = await AccessRegistry.NewUserAsync(host);
        var self = AccessRegistry.Basic(user, password);

        var mine = await IdentityApi.SendAsync(host, HttpMethod.Get, $"{IdentityApi.Users}/{user}", self);
        Assert.Equal(HttpStatusCode.OK, mine.Status);

        // Mass assignment: the admin flag or new groups in the user's own update are refused, and nothing is stored.
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Put, $"{IdentityApi.Users}/{user}", self, IdentityApi.UserJson(user, "changed-secret", ",\"admin\":true")), HttpStatusCode.Forbidden, "Forbidden");
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Put, $"{IdentityApi.Users}/{user}", self, IdentityApi.UserJson(user, null, "\"groups\":[\"admins\"]")), HttpStatusCode.Forbidden, "Forbidden");
        var account = (await host.Service<IGrainFactory>().GetGrain<IAccountGrain>(user).Get())!;
        Assert.False(account.IsAdmin);
        Assert.Empty(account.Groups);
        Assert.True(BCrypt.Net.BCrypt.Verify(password, account.PasswordHash));

        // Sending the stored values back unchanged (a GET, edited, PUT) is fine.
        var changed = await IdentityApi.SendAsync(host, HttpMethod.Put, $"{IdentityApi.Users}/{user}", self, IdentityApi.UserJson(user, "changed-secret", ",\"admin\":false,\"groups\":[]"));
        Assert.Equal(HttpStatusCode.OK, changed.Status);
        using (var login = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{user}/app/tags/list", AccessRegistry.Basic(user, "changed-secret")))
        {
            Assert.Equal(HttpStatusCode.NotFound, login.StatusCode);
        }

        var renewed = AccessRegistry.Basic(user, "changed-secret");
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Get, $"{IdentityApi.Users}/{other}", renewed), HttpStatusCode.Forbidden, "Forbidden");
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Put, $"{IdentityApi.Users}/{other}", renewed, IdentityApi.UserJson(other, "taken-over-1")), HttpStatusCode.Forbidden, "Forbidden");
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Get, IdentityApi.Users, renewed), HttpStatusCode.Forbidden, "Forbidden");
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Post, IdentityApi.Users, renewed, IdentityApi.UserJson(IdentityApi.NewName(), "whatever-1", ",\"admin\":true")), HttpStatusCode.Forbidden, "Forbidden");
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Delete, $"{IdentityApi.Users}/{other}", renewed), HttpStatusCode.Forbidden, "Forbidden");
        Assert.NotNull(await host.Service<IGrainFactory>().GetGrain<IAccountGrain>(other).Get());
    }

    [Fact]
    public async Task NoOrBadCredentialsGet401WithAChallenge()
    {
        var host = await AccessRegistry.GetAsync();
        foreach (var auth in new AuthenticationHeaderValue?[] { null, AccessRegistry.Basic(AdminBootstrap.AdminName, "wrong"), new("Bearer", "not-a-token") })
        {
            using var response = await AccessRegistry.SendAsync(host, HttpMethod.Get, IdentityApi.Users, auth);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.NotEmpty(response.Headers.WwwAuthenticate);
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal("Unauthorized", body.RootElement.GetProperty("reason").GetString());
        }
    }

    [Theory]
    [InlineData("{\"apiVersion\":\"registry/v1\",\"kind\":\"User\",\"metadata\":{\"name\":\"NAME\"},\"spec\":{\"password\":\"long-enough\",\"isAdmin\":true}}", HttpStatusCode.BadRequest, "BadRequest")]
    [InlineData("{\"apiVersion\":\"registry/v1\",\"kind\":\"User\",\"metadata\":{\"name\":\"NAME\"},\"spec\":{\"password\":\"long-enough\"},\"extra\":1}", HttpStatusCode.BadRequest, "BadRequest")]
    [InlineData("{\"apiVersion\":\"registry/v1\",\"kind\":\"Robot\",\"metadata\":{\"name\":\"NAME\"},\"spec\":{\"password\":\"long-enough\"}}", HttpStatusCode.BadRequest, "BadRequest")]
    [InlineData("{\"metadata\":{\"name\":\"Bad_Name\"},\"spec\":{\"password\":\"long-enough\"}}", HttpStatusCode.UnprocessableEntity, "Invalid")]
    [InlineData("{\"metadata\":{\"name\":\"-x\"},\"spec\":{\"password\":\"long-enough\"}}", HttpStatusCode.UnprocessableEntity, "Invalid")]
    [InlineData("{\"metadata\":{\"name\":\"NAME\\n\"},\"spec\":{\"password\":\"long-enough\"}}", HttpStatusCode.UnprocessableEntity, "Invalid")]
    [InlineData("{\"metadata\":{\"name\":\"NAME\"},\"spec\":{\"password\":\"short\"}}", HttpStatusCode.UnprocessableEntity, "Invalid")]
    [InlineData("{\"metadata\":{\"name\":\"NAME\"},\"spec\":{}}", HttpStatusCode.UnprocessableEntity, "Invalid")]
    [InlineData("{\"metadata\":{\"name\":\"NAME\"},\"spec\":{\"password\":\"long-enough\",\"groups\":[\"system:masters\"]}}", HttpStatusCode.UnprocessableEntity, "Invalid")]
    [InlineData("{\"metadata\":{\"name\":\"NAME\"},\"spec\":{\"password\":\"long-enough\",\"admin\":\"yes\"}}", HttpStatusCode.BadRequest, "BadRequest")]
    [InlineData("[1]", HttpStatusCode.BadRequest, "BadRequest")]
    [InlineData("{", HttpStatusCode.BadRequest, "BadRequest")]
    public async Task BadDocumentsGetAStatusAndCreateNothing(string json, HttpStatusCode code, string reason)
    {
        var host = await AccessRegistry.GetAsync();
        var name = IdentityApi.NewName();

        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Post, IdentityApi.Users, IdentityApi.Admin, json.Replace("NAME", name, StringComparison.Ordinal)), code, reason);

        Assert.Null(await host.Service<IGrainFactory>().GetGrain<IAccountGrain>(name).Get());
    }

    [Fact]
    public async Task LimitsOnNamesPasswordsBodiesAndContentTypesAreEnforced()
    {
        var host = await AccessRegistry.GetAsync();
        var tooLong = new string('a', 64);
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Post, IdentityApi.Users, IdentityApi.Admin, IdentityApi.UserJson(tooLong, "long-enough")), HttpStatusCode.UnprocessableEntity, "Invalid");
        Assert.Null(await host.Service<IGrainFactory>().GetGrain<IAccountGrain>(tooLong).Get());

        var name = IdentityApi.NewName();
        var longest = new string('p', IdentityRequests.MaxPasswordBytes);
        Assert.Equal(HttpStatusCode.Created, (await IdentityApi.SendAsync(host, HttpMethod.Post, IdentityApi.Users, IdentityApi.Admin, IdentityApi.UserJson(name, longest))).Status);
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Put, $"{IdentityApi.Users}/{name}", IdentityApi.Admin, IdentityApi.UserJson(name, longest + "p")), HttpStatusCode.UnprocessableEntity, "Invalid");

        var huge = IdentityApi.UserJson(IdentityApi.NewName(), "long-enough", $",\"groups\":[\"{new string('g', IdentityRequests.MaxBodyBytes)}\"]");
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Post, IdentityApi.Users, IdentityApi.Admin, huge), HttpStatusCode.RequestEntityTooLarge, "RequestEntityTooLarge");
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Post, IdentityApi.Users, IdentityApi.Admin, IdentityApi.UserJson(IdentityApi.NewName(), "long-enough"), "text/plain"), HttpStatusCode.UnsupportedMediaType, "UnsupportedMediaType");

        var groups = string.Join(',', Enumerable.Range(0, IdentityRequests.MaxGroups + 1).Select(i => $"\"g{i}\""));
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Post, IdentityApi.Users, IdentityApi.Admin, IdentityApi.UserJson(IdentityApi.NewName(), "long-enough", $",\"groups\":[{groups}]")), HttpStatusCode.UnprocessableEntity, "Invalid");

        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Post, IdentityApi.Users, IdentityApi.Admin, IdentityApi.UserJson(name, "long-enough")), HttpStatusCode.Conflict, "AlreadyExists");
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Put, $"{IdentityApi.Users}/{IdentityApi.NewName()}", IdentityApi.Admin, IdentityApi.UserJson(name, null)), HttpStatusCode.BadRequest, "BadRequest");
        IdentityApi.AssertStatus(await IdentityApi.SendAsync(host, HttpMethod.Get, IdentityApi.Users + "?limit=0", IdentityApi.Admin), HttpStatusCode.BadRequest, "BadRequest");
    }

    [Fact]
    public async Task ListingPagesWithContinue()
    {
        var host = await AccessRegistry.GetAsync();
        await AccessRegistry.NewUserAsync(host);
        await AccessRegistry.NewUserAsync(host);

        var seen = new List<string>();
        string? next = null;
        do
        {
            var page = await IdentityApi.SendAsync(host, HttpMethod.Get, IdentityApi.Users + "?limit=1" + (next is null ? "" : "&continue=" + Uri.EscapeDataString(next)), IdentityApi.Admin);
            Assert.Equal(HttpStatusCode.OK, page.Status);
            var items = page.Body.GetProperty("items").EnumerateArray().ToList();
            Assert.True(items.Count <= 1);
            seen.AddRange(items.Select(i => i.GetProperty("metadata").GetProperty("name").GetString()!));
            next = page.Body.GetProperty("metadata").TryGetProperty("continue", out var c) ? c.GetString() : null;
        }
        while (next is not null);

        Assert.Equal(seen.Order(StringComparer.Ordinal), seen);
        Assert.Equal(seen.Distinct().Count(), seen.Count);
        Assert.Contains(AdminBootstrap.AdminName, seen);
        Assert.True(seen.Count >= 3);
    }
}
