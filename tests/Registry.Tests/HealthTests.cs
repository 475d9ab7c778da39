using System.Net;
using System.Text.Json;

namespace Registry.Tests;

[Trait("Category", TestCategories.Fast)]
public sealed class HealthTests
{
    [Theory]
    [InlineData("/livez")]
    [InlineData("/readyz")]
    [InlineData("/startupz")]
    public async Task ProbesAnswer200OnARunningHost(string path)
    {
        var host = await SharedRegistry.GetAsync();
        using var response = await host.Client.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(body);
        Assert.Equal("Healthy", json.RootElement.GetProperty("status").GetString());
        Assert.False(response.Headers.Contains("Docker-Distribution-API-Version"));
    }

    [Fact]
    public async Task ReadinessChecksTheSiloAndStorageAndStartupTheSilo()
    {
        var host = await SharedRegistry.GetAsync();
        Assert.Equal(["silo-membership", "storage"], await CheckNamesAsync(host, "/readyz"));
        Assert.Equal(["silo-started"], await CheckNamesAsync(host, "/startupz"));
        Assert.Equal(["process"], await CheckNamesAsync(host, "/livez"));
    }

    [Fact]
    public async Task ReadyzAnswers503WhenStorageIsUnreachableWhileLivezStays200()
    {
        await using var host = await RegistryHost.StartAsync();
        using (var before = await host.Client.GetAsync("/readyz"))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        // Root ignores permissions, so make the data directory unusable by replacing it with a file.
        var moved = host.DataDirectory + ".moved";
        Directory.Move(host.DataDirectory, moved);
        await File.WriteAllTextAsync(host.DataDirectory, "not a directory");
        try
        {
            using var ready = await host.Client.GetAsync("/readyz");
            var body = await ready.Content.ReadAsStringAsync();
            Assert.True(ready.StatusCode == HttpStatusCode.ServiceUnavailable, $"{(int)ready.StatusCode} {body}");
            using var json = JsonDocument.Parse(body);
            var checks = json.RootElement.GetProperty("checks");
            Assert.Equal("Unhealthy", checks.GetProperty("storage").GetProperty("status").GetString());
            Assert.Equal("Healthy", checks.GetProperty("silo-membership").GetProperty("status").GetString());

            using var live = await host.Client.GetAsync("/livez");
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
            using var startup = await host.Client.GetAsync("/startupz");
            Assert.Equal(HttpStatusCode.OK, startup.StatusCode);
        }
        finally
        {
            File.Delete(host.DataDirectory);
            Directory.Move(moved, host.DataDirectory);
        }

        using var again = await host.Client.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
    }

    private static async Task<string[]> CheckNamesAsync(RegistryHost host, string path)
    {
        using var json = JsonDocument.Parse(await host.Client.GetStringAsync(path));
        return [.. json.RootElement.GetProperty("checks").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal)];
    }
}
