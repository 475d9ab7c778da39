using System.Net;
using Microsoft.Extensions.Options;
using Registry.Api.Access;

namespace Registry.Tests;

/// <summary>Failed logins limited per account and per client address (429 TOOMANYREQUESTS with Retry-After); successes never.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class LoginThrottleTests
{
    [Fact]
    public async Task FailedLoginsAreLimitedPerAccountAndPerAddressWhileSuccessesAreNot()
    {
        await using var host = await RegistryHost.StartAsync(
            null,
            "--Registry:Access:Enabled=true",
            $"--Registry:Access:AdminPassword={AccessRegistry.AdminPassword}",
            "--Registry:Access:FailedLogins:PerAccount=3",
            "--Registry:Access:FailedLogins:PerAddress=6",
            "--Registry:Access:FailedLogins:Window=01:00:00",
            "--Registry:Access:Metrics=Authenticated");
        var (a, passwordA) = await AccessRegistry.NewUserAsync(host);
        var (b, passwordB) = await AccessRegistry.NewUserAsync(host);
        var (c, passwordC) = await AccessRegistry.NewUserAsync(host);

        // Successful logins are never limited.
        for (var i = 0; i < 8; i++)
        {
            using var ok = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{b}/app/tags/list", AccessRegistry.Basic(b, passwordB));
            Assert.Equal(HttpStatusCode.NotFound, ok.StatusCode);
        }

        var tokenB = await AccessRegistry.TokenAsync(host, b, passwordB, $"repository:{b}/app:pull");
        using (var metrics = await AccessRegistry.SendAsync(host, HttpMethod.Get, "/metrics", AccessRegistry.Basic(b, passwordB)))
        {
            Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        }

        using (var anonymousMetrics = await host.Client.GetAsync("/metrics"))
        {
            await AccessEnforcementTests.AssertStatusAsync(anonymousMetrics, HttpStatusCode.Unauthorized, "Unauthorized");
        }

        for (var i = 0; i < 3; i++)
        {
            using var wrong = await AccessRegistry.SendAsync(host, HttpMethod.Get, "/auth/token", AccessRegistry.Basic(a, "wrong"));
            await wrong.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        }

        // The account is locked for the window, right password or not, on every way in.
        using (var token = await AccessRegistry.SendAsync(host, HttpMethod.Get, "/auth/token", AccessRegistry.Basic(a, passwordA)))
        {
            await AssertThrottledAsync(token);
        }

        using (var basic = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{a}/app/tags/list", AccessRegistry.Basic(a, passwordA)))
        {
            await AssertThrottledAsync(basic);
        }

        using (var form = new FormUrlEncodedContent([new("grant_type", "password"), new("username", a), new("password", passwordA), new("service", "orleans-registry"), new("client_id", "test")]))
        using (var oauth = await host.Client.PostAsync("/auth/token", form))
        {
            await AssertThrottledAsync(oauth);
        }

        using (var apis = await AccessRegistry.SendAsync(host, HttpMethod.Get, SelfSubjectReviewEndpoint.Path, AccessRegistry.Basic(a, passwordA)))
        {
            await AccessEnforcementTests.AssertStatusAsync(apis, HttpStatusCode.TooManyRequests, "TooManyRequests");
            Assert.True(apis.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        }

        // Another account from the same address still logs in, until the address has had its 6 failures.
        Assert.NotEmpty(await AccessRegistry.TokenAsync(host, c, passwordC));
        for (var i = 0; i < 3; i++)
        {
            using var wrong = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{b}/app/tags/list", AccessRegistry.Basic(b, "wrong"));
            await wrong.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        }

        using (var byAddress = await AccessRegistry.SendAsync(host, HttpMethod.Get, "/auth/token", AccessRegistry.Basic(c, passwordC)))
        {
            await AssertThrottledAsync(byAddress);
        }

        // Tokens are not logins: one already issued keeps working from the throttled address.
        using var withToken = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{b}/app/tags/list", new("Bearer", tokenB));
        Assert.Equal(HttpStatusCode.NotFound, withToken.StatusCode);
    }

    [Fact]
    public async Task OnlyFailuresAndPasswordChecksOfPartitionsThatFailedHereAskTheCluster()
    {
        await using var host = await RegistryHost.StartAsync(
            null,
            "--Registry:Access:Enabled=true",
            $"--Registry:Access:AdminPassword={AccessRegistry.AdminPassword}");
        var throttle = host.Service<LoginThrottle>();
        var (a, passwordA) = await AccessRegistry.NewUserAsync(host);
        var (b, passwordB) = await AccessRegistry.NewUserAsync(host);
        async Task<long> CallsOfAsync(string user, string password, HttpStatusCode expected)
        {
            var before = throttle.GrainCalls;
            using var response = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{user}/app/tags/list", AccessRegistry.Basic(user, password));
            Assert.Equal(expected, response.StatusCode);
            return throttle.GrainCalls - before;
        }

        // Nothing failed yet: a password check is local only.
        Assert.Equal(0, await CallsOfAsync(a, passwordA, HttpStatusCode.NotFound));

        // A failure is reported to the cluster for the account and the address.
        Assert.Equal(2, await CallsOfAsync(b, "wrong", HttpStatusCode.Unauthorized));

        // A password check of partitions that failed here asks whether the cluster refuses them.
        Assert.Equal(2, await CallsOfAsync(b, passwordB, HttpStatusCode.NotFound));

        // Remembered credentials (a cached Basic login) ask nothing, though their account and address failed here.
        Assert.Equal(0, await CallsOfAsync(b, passwordB, HttpStatusCode.NotFound));
        Assert.Equal(0, await CallsOfAsync(a, passwordA, HttpStatusCode.NotFound));
    }

    [Theory]
    [InlineData("--Registry:Access:FailedLogins:PerAccount=0", "FailedLogins")]
    [InlineData("--Registry:Access:FailedLogins:Window=00:00:00", "FailedLogins:Window")]
    [InlineData("--Registry:Access:IdentityCacheTime=01:00:00", "IdentityCacheTime")]
    [InlineData("--Registry:Access:Metrics=Everyone", "Metrics")]
    [InlineData("--Registry:Access:AuditDenialsPerSecond=0", "AuditDenialsPerSecond")]
    public async Task BadEnforcementSettingsStopTheHostWithAMessageThatSaysWhatToFix(string setting, string named)
    {
        using var data = new TempDirectory();
        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() => RegistryHost.StartAsync(data.Path, "--Registry:Access:Enabled=true", setting));

        Assert.Contains(named, failure.Message, StringComparison.Ordinal);
    }

    private static async Task AssertThrottledAsync(HttpResponseMessage response)
    {
        await response.AssertErrorAsync(HttpStatusCode.TooManyRequests, "TOOMANYREQUESTS");
        Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero, "Retry-After in seconds");
    }
}
