using System.Net;
using Registry.Api.Access;

namespace Registry.Tests;

/// <summary>The registry's own executable with its defaults: access control on, and off refused beyond loopback.</summary>
[Trait("Category", TestCategories.Process)]
public sealed class AccessProcessTests
{
    [Fact]
    public async Task TheExecutableRefusesToStartOnAllInterfacesWithAccessControlOffAndSaysWhatToSet()
    {
        using var data = new TempDirectory();
        var api = Path.Combine(AppContext.BaseDirectory, "Registry.Api.dll");

        var result = await ProcessRunner.RunAsync("dotnet", [api, $"--Registry:DataDirectory={data.Path}", $"--Registry:Listen=http://0.0.0.0:{Azurite.FreePort()}", "--Registry:Access:Enabled=false"], TimeSpan.FromSeconds(90));

        Assert.True(result.ExitCode == 1, result.Describe());
        Assert.Contains("The registry cannot start:", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("Registry:Access:Enabled=false is allowed only when the registry listens on loopback alone", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("set Registry:Listen=http://127.0.0.1:5000", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(data.Path, AdminBootstrap.PasswordFileName)));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task TheExecutableWithNoAccessSettingChallengesAndCreatesAdminWithAPasswordFileItsOutputNames()
    {
        using var data = new TempDirectory();
        await using var registry = await RegistryProcess.StartHostAsync(
            "Registry.Api.dll",
            connectionString: "",
            clusterId: "embedded",
            httpPort: null,
            siloPort: null,
            [("Registry__Mode", "Embedded"), ("Registry__DataDirectory", data.Path), ("Registry__Access__Enabled", null)]);

        using (var anonymous = await registry.Client.GetAsync("/v2/"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            Assert.StartsWith("Bearer realm=", anonymous.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        }

        var file = Path.Combine(data.Path, AdminBootstrap.PasswordFileName);
        var password = File.ReadAllText(file).Trim();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/v2/_catalog"))
        {
            request.Headers.Authorization = AccessRegistry.Basic(AdminBootstrap.AdminName, password);
            using var catalog = await registry.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, catalog.StatusCode);
        }

        Assert.Contains($"its password is in {file}", registry.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(password, registry.Output, StringComparison.Ordinal);
    }
}
