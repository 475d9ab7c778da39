using System.Net;
using System.Text.Json;

namespace Registry.Tests;

[Trait("Category", TestCategories.Fast)]
public sealed class ListingTests
{
    private static async Task<string[]> NamesAsync(HttpResponseMessage response, string property)
    {
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty(property).EnumerateArray().Select(e => e.GetString()!).ToArray();
    }

    [Fact]
    public async Task TagsAreListedInLexicalOrderWithPaging()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var (_, manifest) = await host.Client.PushImageAsync(name, "b");
        foreach (var tag in new[] { "a", "c", "B", "a1", "d" })
        {
            using var put = await host.Client.PutManifestAsync(name, tag, manifest);
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        using var all = await host.Client.GetAsync($"/v2/{name}/tags/list");
        Assert.Equal(["B", "a", "a1", "b", "c", "d"], await NamesAsync(all, "tags"));
        Assert.False(all.Headers.Contains("Link"));

        using var page1 = await host.Client.GetAsync($"/v2/{name}/tags/list?n=2");
        Assert.Equal(["B", "a"], await NamesAsync(page1, "tags"));
        Assert.Equal($"</v2/{name}/tags/list?n=2&last=a>; rel=\"next\"", page1.Header("Link"));

        using var page2 = await host.Client.GetAsync($"/v2/{name}/tags/list?n=2&last=a");
        Assert.Equal(["a1", "b"], await NamesAsync(page2, "tags"));
        using var page3 = await host.Client.GetAsync($"/v2/{name}/tags/list?n=2&last=b");
        Assert.Equal(["c", "d"], await NamesAsync(page3, "tags"));
        Assert.False(page3.Headers.Contains("Link"));

        using var afterAll = await host.Client.GetAsync($"/v2/{name}/tags/list?last=d");
        Assert.Empty(await NamesAsync(afterAll, "tags"));

        using var zero = await host.Client.GetAsync($"/v2/{name}/tags/list?n=0");
        Assert.Equal(HttpStatusCode.OK, zero.StatusCode);
        Assert.Empty(await NamesAsync(zero, "tags"));

        // Leading zeros change nothing, however many.
        using var zeros = await host.Client.GetAsync($"/v2/{name}/tags/list?n=0000000000000");
        Assert.Empty(await NamesAsync(zeros, "tags"));
        using var padded = await host.Client.GetAsync($"/v2/{name}/tags/list?n=0000000000002");
        Assert.Equal(["B", "a"], await NamesAsync(padded, "tags"));
        Assert.Equal($"</v2/{name}/tags/list?n=2&last=a>; rel=\"next\"", padded.Header("Link"));
    }

    [Fact]
    public async Task HugePageSizesAreClampedAndLinked()
    {
        await using var host = await RegistryHost.StartAsync(null, "--Registry:Limits:MaxPageSize=3");
        var name = SharedRegistry.UniqueName();
        var (_, manifest) = await host.Client.PushImageAsync(name, "t0");
        for (var i = 1; i < 5; i++)
        {
            using var put = await host.Client.PutManifestAsync(name, $"t{i}", manifest);
        }

        using var huge = await host.Client.GetAsync($"/v2/{name}/tags/list?n=99999999999999999999");
        Assert.Equal(["t0", "t1", "t2"], await NamesAsync(huge, "tags"));
        Assert.Equal($"</v2/{name}/tags/list?n=3&last=t2>; rel=\"next\"", huge.Header("Link"));

        using var absent = await host.Client.GetAsync($"/v2/{name}/tags/list");
        Assert.Equal(3, (await NamesAsync(absent, "tags")).Length);
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("abc")]
    [InlineData("1.5")]
    [InlineData("")]
    [InlineData("0x10")]
    public async Task BadPageSizesAreRefused(string n)
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        await host.Client.PushImageAsync(name, "v1");
        using var tags = await host.Client.GetAsync($"/v2/{name}/tags/list?n={Uri.EscapeDataString(n)}");
        await tags.AssertErrorAsync(HttpStatusCode.BadRequest, "PAGINATION_NUMBER_INVALID");
        using var catalog = await host.Client.GetAsync($"/v2/_catalog?n={Uri.EscapeDataString(n)}");
        await catalog.AssertErrorAsync(HttpStatusCode.BadRequest, "PAGINATION_NUMBER_INVALID");
    }

    [Fact]
    public async Task TagsOfAnUnknownRepositoryAreNameUnknown()
    {
        var host = await SharedRegistry.GetAsync();
        using var tags = await host.Client.GetAsync($"/v2/{SharedRegistry.UniqueName()}/tags/list");
        await tags.AssertErrorAsync(HttpStatusCode.NotFound, "NAME_UNKNOWN");
    }

    [Fact]
    public async Task CatalogListsRepositoriesWithPaging()
    {
        await using var host = await RegistryHost.StartAsync();
        string[] names = ["alpha/one", "beta/two", "gamma", "alpha/zeta"];
        foreach (var name in names)
        {
            await host.Client.PushImageAsync(name, "v1");
        }

        using var all = await host.Client.GetAsync("/v2/_catalog");
        Assert.Equal(["alpha/one", "alpha/zeta", "beta/two", "gamma"], await NamesAsync(all, "repositories"));

        using var page = await host.Client.GetAsync("/v2/_catalog?n=2");
        Assert.Equal(["alpha/one", "alpha/zeta"], await NamesAsync(page, "repositories"));
        Assert.Equal("</v2/_catalog?n=2&last=alpha%2Fzeta>; rel=\"next\"", page.Header("Link"));
        using var next = await host.Client.GetAsync("/v2/_catalog?n=2&last=alpha%2Fzeta");
        Assert.Equal(["beta/two", "gamma"], await NamesAsync(next, "repositories"));
    }

    [Fact]
    public async Task ReferrersOfAnUnknownSubjectIsAnEmptyIndex()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        using var response = await host.Client.GetAsync($"/v2/{name}/referrers/{Oci.Digest(Oci.RandomBytes(5))}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Oci.IndexType, response.Content.Headers.ContentType!.MediaType);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(2, json.RootElement.GetProperty("schemaVersion").GetInt32());
        Assert.Equal(0, json.RootElement.GetProperty("manifests").GetArrayLength());

        using var bad = await host.Client.GetAsync($"/v2/{name}/referrers/sha256:abc");
        await bad.AssertErrorAsync(HttpStatusCode.BadRequest, "DIGEST_INVALID");
    }

    [Fact]
    public async Task ReferrersListArtifactsWithTheirTypeAndFilter()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var (subject, subjectBytes) = await host.Client.PushImageAsync(name, "v1");
        var empty = "{}"u8.ToArray();
        await host.Client.PushBlobAsync(name, empty);
        var layer = Oci.RandomBytes(100);
        await host.Client.PushBlobAsync(name, layer);

        var sbom = Oci.ImageManifest(empty, [layer], "application/vnd.example.sbom", (subject, subjectBytes.Length, Oci.ManifestType), new Dictionary<string, string> { ["org.example.kind"] = "sbom" });
        using var put = await host.Client.PutManifestAsync(name, Oci.Digest(sbom), sbom);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(subject, put.Header("OCI-Subject"));
        var signature = Oci.ImageManifest(empty, [layer], "application/vnd.example.signature", (subject, subjectBytes.Length, Oci.ManifestType));
        using var put2 = await host.Client.PutManifestAsync(name, Oci.Digest(signature), signature);

        using var all = await host.Client.GetAsync($"/v2/{name}/referrers/{subject}");
        using var allJson = JsonDocument.Parse(await all.Content.ReadAsStringAsync());
        var manifests = allJson.RootElement.GetProperty("manifests").EnumerateArray().ToArray();
        Assert.Equal(2, manifests.Length);
        var sbomEntry = manifests.Single(m => m.GetProperty("digest").GetString() == Oci.Digest(sbom));
        Assert.Equal("application/vnd.example.sbom", sbomEntry.GetProperty("artifactType").GetString());
        Assert.Equal(sbom.Length, sbomEntry.GetProperty("size").GetInt32());
        Assert.Equal("sbom", sbomEntry.GetProperty("annotations").GetProperty("org.example.kind").GetString());
        Assert.False(all.Headers.Contains("OCI-Filters-Applied"));

        using var filtered = await host.Client.GetAsync($"/v2/{name}/referrers/{subject}?artifactType=application/vnd.example.signature");
        Assert.Equal("artifactType", filtered.Header("OCI-Filters-Applied"));
        using var filteredJson = JsonDocument.Parse(await filtered.Content.ReadAsStringAsync());
        Assert.Equal(Oci.Digest(signature), filteredJson.RootElement.GetProperty("manifests")[0].GetProperty("digest").GetString());
        Assert.Equal(1, filteredJson.RootElement.GetProperty("manifests").GetArrayLength());

        // Deleting a referrer removes it from the list.
        using var delete = await host.Client.DeleteAsync($"/v2/{name}/manifests/{Oci.Digest(signature)}");
        using var after = await host.Client.GetAsync($"/v2/{name}/referrers/{subject}");
        using var afterJson = JsonDocument.Parse(await after.Content.ReadAsStringAsync());
        Assert.Equal(1, afterJson.RootElement.GetProperty("manifests").GetArrayLength());
    }

    [Fact]
    public async Task ReferrersFallBackToTheConfigMediaType()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var (subject, subjectBytes) = await host.Client.PushImageAsync(name, "v1");
        var config = Oci.RandomBytes(20);
        await host.Client.PushBlobAsync(name, config);
        var manifest = Oci.ImageManifest(config, [], subject: (subject, subjectBytes.Length, Oci.ManifestType));
        using var put = await host.Client.PutManifestAsync(name, Oci.Digest(manifest), manifest);
        using var response = await host.Client.GetAsync($"/v2/{name}/referrers/{subject}");
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(Oci.ConfigType, json.RootElement.GetProperty("manifests")[0].GetProperty("artifactType").GetString());
    }

    [Fact]
    public async Task AManifestWhoseSubjectIsMissingIsAccepted()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var config = Oci.RandomBytes(20);
        await host.Client.PushBlobAsync(name, config);
        var absent = Oci.Digest(Oci.RandomBytes(7));
        var manifest = Oci.ImageManifest(config, [], "application/vnd.example.x", (absent, 123, Oci.ManifestType));
        using var put = await host.Client.PutManifestAsync(name, Oci.Digest(manifest), manifest);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(absent, put.Header("OCI-Subject"));
        using var response = await host.Client.GetAsync($"/v2/{name}/referrers/{absent}");
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(1, json.RootElement.GetProperty("manifests").GetArrayLength());
    }
}
