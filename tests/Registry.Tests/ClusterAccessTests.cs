using System.Net;
using System.Net.Http.Headers;
using Registry.Api.Access;

namespace Registry.Tests;

/// <summary>Cluster mode as the Kubernetes manifests run it: access control on, the admin password from the environment.</summary>
[Trait("Category", TestCategories.Process)]
[Trait("Category", TestCategories.Azurite)]
public sealed class ClusterAccessTests
{
    [Fact]
    public async Task ATokenFromOneReplicaIsHonouredByAnotherAndTheSecretIsNeverPrinted()
    {
        const string secret = "cluster-admin-secret-0815";
        await using var azurite = await Azurite.StartAsync();
        var cluster = "c" + Guid.NewGuid().ToString("N")[..12];
        (string, string)[] settings = [("Registry__Access__Enabled", "true"), ("Registry__Access__AdminPassword", secret)];
        await using var a = await RegistryProcess.StartAsync(azurite.ConnectionString, cluster, settings: settings);
        await using var b = await RegistryProcess.StartAsync(azurite.ConnectionString, cluster, settings: settings);

        using (var anonymous = await b.Client.GetAsync("/v2/_catalog"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }

        using var login = new HttpRequestMessage(HttpMethod.Get, "/auth/token?service=orleans-registry&scope=registry:catalog:*");
        login.Headers.Authorization = AccessRegistry.Basic(AdminBootstrap.AdminName, secret);
        using var issued = await a.Client.SendAsync(login);
        Assert.Equal(HttpStatusCode.OK, issued.StatusCode);
        var token = System.Text.Json.JsonDocument.Parse(await issued.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString();

        using var catalog = new HttpRequestMessage(HttpMethod.Get, "/v2/_catalog");
        catalog.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var listed = await b.Client.SendAsync(catalog);
        Assert.Equal(HttpStatusCode.OK, listed.StatusCode);
        Assert.DoesNotContain(secret, a.Output + b.Output, StringComparison.Ordinal);
    }
}
