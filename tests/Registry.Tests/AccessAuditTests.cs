using System.Net;
using System.Text.Json;
using Registry.Api.Access;

namespace Registry.Tests;

/// <summary>Refused attempts in the audit log (who, what, from where, never the secret), and the actor of change events.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class AccessAuditTests
{
    [Fact]
    public async Task RefusalsOfRequestsWithCredentialsAreAuditedWithoutTheSecret()
    {
        var host = await AccessRegistry.GetAsync();
        var (user, password) = await AccessRegistry.NewUserAsync(host);
        var wrong = "wrong-" + Guid.NewGuid().ToString("N");
        var other = SharedRegistry.UniqueName("aud");

        using (var bad = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{user}/app/tags/list", AccessRegistry.Basic(user, wrong)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, bad.StatusCode);
        }

        using (var denied = await AccessRegistry.SendAsync(host, HttpMethod.Post, $"/v2/{other}/blobs/uploads/", AccessRegistry.Basic(user, password)))
        {
            Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        }

        using (var login = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/auth/token?scope=repository:{other}:pull", AccessRegistry.Basic(user, wrong)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, login.StatusCode);
        }

        var token = await AccessRegistry.TokenAsync(host, user, password, $"repository:{user}/app:pull");
        using (var scope = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{other}/tags/list", new("Bearer", token)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, scope.StatusCode);
        }

        // Without credentials a 401 is the token flow's first step, not an attempt: not audited.
        var anonymousPath = $"/v2/{SharedRegistry.UniqueName("aud")}/tags/list";
        using (var anonymous = await host.Client.GetAsync(anonymousPath))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }

        var records = (await AuditFile.ReadAsync(AccessRegistry.AuditPath)).Where(r => r.TryGetProperty("status", out _)).ToList();
        var mine = records.Where(r => r.Str("actor") == user).ToList();
        var unauthorized = Assert.Single(mine, r => r.Str("action") == AccessAudit.Unauthorized && r.Str("reason") == Authenticator.InvalidToken);
        Assert.Equal(("GET", $"/v2/{user}/app/tags/list", $"repository:{user}/app:pull", 401), (unauthorized.Str("method"), unauthorized.Str("path"), unauthorized.Str("scope"), unauthorized.GetProperty("status").GetInt32()));
        Assert.StartsWith("127.0.0.1:", unauthorized.Str("addr"), StringComparison.Ordinal);
        var denied403 = Assert.Single(mine, r => r.Str("action") == AccessAudit.Denied);
        Assert.Equal(("POST", $"repository:{other}:pull,push", 403), (denied403.Str("method"), denied403.Str("scope"), denied403.GetProperty("status").GetInt32()));
        var failedLogin = Assert.Single(mine, r => r.Str("action") == AccessAudit.LoginFailed);
        Assert.Equal($"repository:{other}:pull", failedLogin.Str("scope"));
        Assert.Single(mine, r => r.Str("reason") == "insufficient_scope" && r.Str("path") == $"/v2/{other}/tags/list");
        Assert.DoesNotContain(records, r => r.Str("path") == anonymousPath);

        var text = await File.ReadAllTextAsync(AccessRegistry.AuditPath);
        Assert.DoesNotContain(wrong, text, StringComparison.Ordinal);
        Assert.DoesNotContain(password, text, StringComparison.Ordinal);
        Assert.DoesNotContain(token, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ChangeEventsNameTheAuthenticatedCallerForBasicAndBearer()
    {
        var host = await AccessRegistry.GetAsync();
        var (user, password) = await AccessRegistry.NewUserAsync(host);
        using var basic = new HttpClient { BaseAddress = host.BaseAddress };
        basic.DefaultRequestHeaders.Authorization = AccessRegistry.Basic(user, password);
        var (byBasic, _) = await basic.PushImageAsync($"{user}/basic", "v1", layers: 1);
        using var bearer = new HttpClient { BaseAddress = host.BaseAddress };
        bearer.DefaultRequestHeaders.Authorization = new("Bearer", await AccessRegistry.TokenAsync(host, user, password, $"repository:{user}/bearer:pull,push"));
        var (byBearer, _) = await bearer.PushImageAsync($"{user}/bearer", "v1", layers: 1);

        List<JsonElement> pushes = [];
        await Poll.UntilAsync(
            async () =>
            {
                pushes = [.. (await AuditFile.ReadAsync(AccessRegistry.AuditPath)).Where(r => r.Str("action") == "push" && r.Str("tag") == "v1" && r.Str("repository") is { } repo && repo.StartsWith(user + "/", StringComparison.Ordinal))];
                return pushes.Count == 2;
            },
            "both manifest pushes are in the audit log");
        Assert.All(pushes, p => Assert.Equal(user, p.Str("actor")));
        Assert.Equal([byBasic, byBearer], pushes.OrderBy(p => p.Str("repository"), StringComparer.Ordinal).Select(p => p.Str("digest")));
    }
}
