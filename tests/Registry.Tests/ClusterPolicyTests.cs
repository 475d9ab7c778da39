using System.Diagnostics;
using System.Net;
using Registry.Api.Access;
using Xunit.Abstractions;

namespace Registry.Tests;

/// <summary>
/// Two replicas (cluster mode, separate processes) with access control on: a binding created or
/// deleted through replica A is enforced by replica B, which had the old policy cached, within a
/// second.
/// </summary>
[Trait("Category", TestCategories.Process)]
[Trait("Category", TestCategories.Azurite)]
public sealed class ClusterPolicyTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ABindingChangedThroughOneReplicaIsEnforcedByAnotherWithinASecond()
    {
        await using var cluster = await RegistryCluster.StartAsync(
            "policy",
            2,
            ("Registry__Access__Enabled", "true"),
            ("Registry__Access__AdminPassword", AccessRegistry.AdminPassword));
        var (a, b) = (cluster.Replicas[0], cluster.Replicas[1]);
        using var adminA = new HttpClient { BaseAddress = a.BaseAddress, Timeout = TimeSpan.FromMinutes(1) };
        adminA.DefaultRequestHeaders.Authorization = PolicyRegistry.Admin;
        using var anonymousB = new HttpClient { BaseAddress = b.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        var ns = PolicyRegistry.NewNamespace();
        await PolicyRegistry.CreateNamespaceAsync(adminA, ns);
        await adminA.PushImageAsync($"{ns}/app", "v1", layers: 1);
        var path = $"/v2/{ns}/app/manifests/v1";

        // B serves the manifest once first, so the figures are the policy's way to B, not B's first read of the image.
        using (var adminB = new HttpClient { BaseAddress = b.BaseAddress, Timeout = TimeSpan.FromMinutes(1) })
        {
            adminB.DefaultRequestHeaders.Authorization = PolicyRegistry.Admin;
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(adminB, path));
        }

        // Round 0 warms B's code paths for anonymous reads and policy refetches (first-call JIT cost,
        // up to ~1.2 s on a loaded 2-core machine) and is reported apart from the propagation figures.
        var figures = new List<double>();
        var warmUp = new List<double>();
        for (var round = 0; round < 7; round++)
        {
            // B has the namespace's policy cached (this request read it) before A changes it.
            Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(anonymousB, path));
            var binding = await PolicyRegistry.BindAsync(adminA, ns, Roles.Viewer, [PolicyRegistry.Group(BuiltInGroups.Anonymous)], name: $"public-{round}");
            var granted = Stopwatch.StartNew();
            Assert.Equal(Roles.Viewer, binding.GetProperty("roleRef").GetProperty("name").GetString());
            await UntilAsync(anonymousB, path, HttpStatusCode.OK, cluster);
            (round == 0 ? warmUp : figures).Add(granted.Elapsed.TotalMilliseconds);

            using (var deleted = await PolicyRegistry.ApiAsync(adminA, HttpMethod.Delete, $"/namespaces/{ns}/rolebindings/public-{round}"))
            {
                await deleted.JsonAsync(HttpStatusCode.OK);
            }

            var revoked = Stopwatch.StartNew();
            await UntilAsync(anonymousB, path, HttpStatusCode.Unauthorized, cluster);
            (round == 0 ? warmUp : figures).Add(revoked.Elapsed.TotalMilliseconds);
        }

        output.WriteLine($"a binding granted or revoked through A was enforced by B after (ms): {string.Join(", ", figures.Select(f => f.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)))}; max {figures.Max():F0} ms (warm-up round: {string.Join(", ", warmUp.Select(f => f.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)))} ms)");
        Assert.All(figures, f => Assert.True(f <= 1000, $"took {f:F0} ms (all: {string.Join(", ", figures)})"));
    }

    private static async Task<HttpStatusCode> StatusAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        return response.StatusCode;
    }

    /// <summary>Asks B again and again until it answers <paramref name="expected"/> (bounded: 10 s, then the test fails).</summary>
    private static async Task UntilAsync(HttpClient client, string path, HttpStatusCode expected, RegistryCluster cluster)
    {
        var clock = Stopwatch.StartNew();
        while (await StatusAsync(client, path) != expected)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"B never answered {(int)expected} for {path}\n{cluster.Output()}");
            // A pause between polls, not a wait for an event: the figure measured is the poll's resolution plus this.
            await Task.Delay(5);
        }
    }
}
