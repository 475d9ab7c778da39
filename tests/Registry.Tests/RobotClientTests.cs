using System.Net;

namespace Registry.Tests;

/// <summary>A namespace's robot as skopeo uses it in CI: Basic credentials through the token flow.</summary>
[Trait("Category", TestCategories.Skopeo)]
public sealed class RobotSkopeoTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("skopeo-robot-").FullName;

    public void Dispose() => Skopeo.TryDelete(_work);

    [Fact]
    public async Task ARobotPushesAndPullsWithinItsScopeAndIsDeniedOutsideIt()
    {
        var host = await AccessRegistry.GetAsync();
        var (ns, password) = await AccessRegistry.NewUserAsync(host);
        var created = await IdentityApi.SendAsync(host, HttpMethod.Post, IdentityApi.Robots(ns), AccessRegistry.Basic(ns, password), $"{{\"metadata\":{{\"name\":\"ci\"}},\"spec\":{{\"repositories\":[\"{ns}/app\"],\"actions\":[\"push\"]}}}}");
        Assert.Equal(HttpStatusCode.Created, created.Status);
        var creds = $"{created.Body.GetProperty("status").GetProperty("loginName").GetString()}:{created.Body.GetProperty("status").GetProperty("secret").GetString()}";
        var source = OciLayout.Create(Path.Combine(_work, "src"));
        var image = source.WriteImage(layers: 2);
        source.Tag(image.Manifest, "v1");

        await Skopeo.RunOkAsync("copy", "--dest-tls-verify=false", "--dest-creds", creds, "--preserve-digests", $"oci:{source.Root}:v1", $"docker://{host.Authority}/{ns}/app:v1");
        var pulled = Path.Combine(_work, "pulled");
        await Skopeo.RunOkAsync("copy", "--src-tls-verify=false", "--src-creds", creds, $"docker://{host.Authority}/{ns}/app:v1", $"oci:{pulled}:v1");
        Assert.Equal(image.Manifest.Digest, OciLayout.Open(pulled).Resolve("v1").Digest);

        // Another repository of its own namespace is outside its list, and another namespace anyway.
        foreach (var outside in new[] { $"{ns}/other", SharedRegistry.UniqueName("robot") })
        {
            var denied = await Skopeo.RunAsync("copy", "--dest-tls-verify=false", "--dest-creds", creds, $"oci:{source.Root}:v1", $"docker://{host.Authority}/{outside}:v1");
            Assert.NotEqual(0, denied.ExitCode);
        }

        // Revoked: the same credentials fail from the next login on.
        Assert.Equal(HttpStatusCode.OK, (await IdentityApi.SendAsync(host, HttpMethod.Delete, IdentityApi.Robots(ns) + "/ci", AccessRegistry.Basic(ns, password))).Status);
        var revoked = await Skopeo.RunAsync("copy", "--src-tls-verify=false", "--src-creds", creds, $"docker://{host.Authority}/{ns}/app:v1", $"oci:{Path.Combine(_work, "again")}:v1");
        Assert.NotEqual(0, revoked.ExitCode);
        Assert.Contains("unauthorized", revoked.Stderr, StringComparison.OrdinalIgnoreCase);
    }
}
