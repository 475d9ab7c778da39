using System.Diagnostics;
using System.Net;
using Registry.Api.Access;
using Xunit.Abstractions;

namespace Registry.Tests;

/// <summary>The failed-login limit holds for the cluster: guesses spread over replicas count together.</summary>
[Trait("Category", TestCategories.Process)]
[Trait("Category", TestCategories.Azurite)]
public sealed class ClusterLoginThrottleTests(ITestOutputHelper output)
{
    private const string Secret = "cluster-throttle-secret-4711";
    private const int PerAccount = 4;
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task FailuresAtOneReplicaOrAlternatedOverReplicasAreLimitedForTheClusterUntilTheWindowEnds()
    {
        await using var cluster = await RegistryCluster.StartAsync(
            "throttle",
            2,
            ("Registry__Access__Enabled", "true"),
            ("Registry__Access__AdminPassword", Secret),
            ("Registry__Access__FailedLogins__PerAccount", PerAccount.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("Registry__Access__FailedLogins__PerAddress", "1000"),
            ("Registry__Access__FailedLogins__Window", Window.ToString()));
        var replicas = cluster.Replicas;
        var (a, b) = (replicas[0], replicas[1]);

        // Guesses all at A: B saw none of them, and still refuses the right password once the cluster does.
        var user = IdentityApi.NewName();
        const string password = "user-secret-0815";
        using (var create = new HttpRequestMessage(HttpMethod.Post, IdentityApi.Users) { Content = new StringContent(IdentityApi.UserJson(user, password), System.Text.Encoding.UTF8, "application/json") })
        {
            create.Headers.Authorization = AccessRegistry.Basic(AdminBootstrap.AdminName, Secret);
            using var created = await b.Client.SendAsync(create);
            Assert.True(created.IsSuccessStatusCode, $"creating {user}: {created.StatusCode}");
        }

        for (var i = 0; i < PerAccount; i++)
        {
            using var wrong = await SendAsync(a, "/v2/", user, "wrong");
            await wrong.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        }

        var refusedAt = Stopwatch.StartNew();
        await Eventually.HoldsAsync(
            async () =>
            {
                using var right = await SendAsync(b, "/v2/", user, password);
                return right.StatusCode == HttpStatusCode.TooManyRequests;
            },
            "the replica that saw no failure refuses the right password");
        output.WriteLine($"the other replica refused {refusedAt.ElapsedMilliseconds} ms after the last failure was answered");
        using (var refused = await SendAsync(b, "/auth/token?service=orleans-registry", user, password))
        {
            await AssertThrottledAsync(refused);
        }

        // Each replica sees half the failures: within its own limit, which alone would admit twice as many.
        for (var i = 0; i < PerAccount; i++)
        {
            using var wrong = await TokenAsync(replicas[i % 2], "wrong");
            await wrong.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        }

        // The next guess, and the right password, are refused on both replicas, on every way in.
        foreach (var replica in replicas)
        {
            using (var guess = await TokenAsync(replica, "wrong-again"))
            {
                await AssertThrottledAsync(guess);
            }

            using (var token = await TokenAsync(replica, Secret))
            {
                await AssertThrottledAsync(token);
            }

            using (var basic = await SendAsync(replica, "/v2/", Secret))
            {
                await AssertThrottledAsync(basic);
            }

            using var apis = await SendAsync(replica, SelfSubjectReviewEndpoint.Path, Secret);
            await AccessEnforcementTests.AssertStatusAsync(apis, HttpStatusCode.TooManyRequests, "TooManyRequests");
            Assert.True(apis.Headers.RetryAfter?.Delta > TimeSpan.Zero, "Retry-After on /apis");
        }

        // Until the window ends: then the right password logs in again on both.
        foreach (var replica in replicas)
        {
            await Eventually.HoldsAsync(
                async () =>
                {
                    using var login = await TokenAsync(replica, Secret);
                    return login.StatusCode == HttpStatusCode.OK;
                },
                $"the window ended for the replica on port {replica.HttpPort}");
        }
    }

    private static Task<HttpResponseMessage> TokenAsync(RegistryProcess replica, string password)
        => SendAsync(replica, "/auth/token?service=orleans-registry", AdminBootstrap.AdminName, password);

    private static Task<HttpResponseMessage> SendAsync(RegistryProcess replica, string path, string password)
        => SendAsync(replica, path, AdminBootstrap.AdminName, password);

    private static async Task<HttpResponseMessage> SendAsync(RegistryProcess replica, string path, string user, string password)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = AccessRegistry.Basic(user, password);
        return await replica.Client.SendAsync(request);
    }

    private static async Task AssertThrottledAsync(HttpResponseMessage response)
    {
        await response.AssertErrorAsync(HttpStatusCode.TooManyRequests, "TOOMANYREQUESTS");
        Assert.InRange(response.Headers.RetryAfter?.Delta ?? TimeSpan.Zero, TimeSpan.FromSeconds(1), Window);
    }
}
