using System.Net;

namespace Registry.Tests;

/// <summary>
/// A push by digest with <c>?tag=</c> (the distribution spec's tags on a digest push): the
/// manifest goes under every tag or under none, and the answer names each tag in an <c>OCI-Tag</c> header.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ManifestQueryTagTests
{
    [Fact]
    public async Task APushByDigestWithTagsTagsItUnderEachAndSaysSo()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("qtag");
        var (digest, manifest) = await PrepareAsync(host.Client, name);

        using (var pushed = await host.Client.PutManifestAsync(name, $"{digest}?tag=a&tag=b&tag=a", manifest))
        {
            Assert.Equal(HttpStatusCode.Created, pushed.StatusCode);
            Assert.Equal(digest, pushed.Header("Docker-Content-Digest"));
            Assert.Equal(["a", "b"], pushed.Headers.GetValues("OCI-Tag"));
        }

        Assert.Equal(digest, await ImmutableTagTests.TagDigestAsync(host.Client, name, "a"));
        Assert.Equal(digest, await ImmutableTagTests.TagDigestAsync(host.Client, name, "b"));

        // Without ?tag= there is no OCI-Tag.
        using var plain = await host.Client.PutManifestAsync(name, digest, manifest);
        Assert.Equal(HttpStatusCode.Created, plain.StatusCode);
        Assert.False(plain.Headers.Contains("OCI-Tag"));
    }

    [Fact]
    public async Task BadTagsAreRefusedAndStoreNothing()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("qtag");
        var (digest, manifest) = await PrepareAsync(host.Client, name);
        var many = string.Join("&", Enumerable.Range(0, Api.Oci.ManifestHandlers.MaxQueryTags + 1).Select(i => $"tag=t{i}"));

        foreach (var reference in new[] { $"{digest}?tag=-bad", $"{digest}?tag=ok&tag=", $"{digest}?tag={new string('a', 129)}", $"{digest}?{many}", "v1?tag=other" })
        {
            using var refused = await host.Client.PutManifestAsync(name, reference, manifest);
            await refused.AssertErrorAsync(HttpStatusCode.BadRequest, "TAG_INVALID");
        }

        using var missing = await host.Client.GetAsync($"/v2/{name}/manifests/{digest}");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task AnImmutableTagAmongThemRefusesThePushForAll()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = "q" + Guid.NewGuid().ToString("N")[..12];
        var name = $"{ns}/app";
        await ImmutableTagTests.PutRulesAsync(host.Client, ns, ImmutableTagTests.Rule("pinned", "**", "stable"));
        var (first, _) = await host.Client.PushImageAsync(name, "stable");
        var (digest, manifest) = await PrepareAsync(host.Client, name);

        using (var refused = await host.Client.PutManifestAsync(name, $"{digest}?tag=latest&tag=stable", manifest))
        {
            await ImmutableTagTests.AssertImmutableAsync(refused, "pinned", $"{name}:stable");
        }

        Assert.Equal(first, await ImmutableTagTests.TagDigestAsync(host.Client, name, "stable"));
        using var latest = await host.Client.GetAsync($"/v2/{name}/manifests/latest");
        Assert.Equal(HttpStatusCode.NotFound, latest.StatusCode);
    }

    /// <summary>Pushes an image's blobs; returns the manifest (not pushed) and its digest.</summary>
    private static async Task<(string Digest, byte[] Manifest)> PrepareAsync(HttpClient client, string name)
    {
        var config = System.Text.Encoding.UTF8.GetBytes($"{{\"n\":\"{Guid.NewGuid():N}\"}}");
        var layer = Oci.RandomBytes(300);
        await client.PushBlobAsync(name, config);
        await client.PushBlobAsync(name, layer);
        var manifest = Oci.ImageManifest(config, [layer]);
        return (Oci.Digest(manifest), manifest);
    }
}
