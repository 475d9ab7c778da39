using System.Net;

namespace Registry.Tests;

[Trait("Category", TestCategories.Fast)]
public sealed class BaseTests
{
    [Fact]
    public async Task VersionCheckAnswersWithTheApiVersionHeader()
    {
        var host = await SharedRegistry.GetAsync();
        using var response = await host.Client.GetAsync("/v2/");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("registry/2.0", response.Header("Docker-Distribution-API-Version"));
    }

    [Fact]
    public async Task UnknownEndpointGetsAnErrorEnvelope()
    {
        var host = await SharedRegistry.GetAsync();
        using var response = await host.Client.GetAsync("/v2/ns/app/nonsense");
        await response.AssertErrorAsync(HttpStatusCode.NotFound, "NAME_UNKNOWN");
        Assert.Equal("registry/2.0", response.Header("Docker-Distribution-API-Version"));
    }
}
