using System.Net;

namespace Registry.Tests;

[Trait("Category", TestCategories.Process)]
[Trait("Category", TestCategories.Azurite)]
public sealed class ClusterSmokeTests
{
    [Fact]
    public async Task TwoProcessesShareOneRegistry()
    {
        await using var azurite = await Azurite.StartAsync();
        var cluster = "c" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await RegistryProcess.StartAsync(azurite.ConnectionString, cluster);
        await using var b = await RegistryProcess.StartAsync(azurite.ConnectionString, cluster);

        var name = SharedRegistry.UniqueName();
        var (digest, manifest) = await a.Client.PushImageAsync(name, "v1");
        Assert.Equal(manifest, await b.Client.GetByteArrayAsync($"/v2/{name}/manifests/v1"));
        using var head = await b.Client.SendAsync(HttpMethod.Head, $"/v2/{name}/manifests/{digest}");
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
    }
}
