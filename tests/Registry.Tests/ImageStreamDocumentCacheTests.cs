using System.Net;
using System.Text;
using Registry.Api.Images;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>
/// The JSON of large image streams kept for their version: served again while the stream is the
/// same, written again after any change, small ones not kept, the total bounded.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ImageStreamDocumentCacheTests
{
    private static readonly RegistryHosts Hosts = new("registry.test:5000", null);

    private static ImageStreamView View(long sequence, int tags, int items = 1, long generation = 1)
        => new(
            Enumerable.Range(0, tags).Select(t => new ImageStreamTagView($"t{t}", Enumerable.Range(0, items).Select(i => new TagHistoryEntry($"sha256:{t:D32}{i:D32}", DateTimeOffset.UnixEpoch, i)).ToArray())).ToArray(),
            sequence,
            generation,
            DateTimeOffset.UnixEpoch,
            new Dictionary<string, string>());

    [Fact]
    public void ALargeDocumentIsServedAgainUntilTheStreamChanges()
    {
        var cache = new ImageStreamDocumentCache();
        var writes = 0;
        byte[] Write() => new byte[ImageStreamDocumentCache.MinBytes + (++writes)];

        var first = cache.GetOrWrite("ns/app", View(5, 3), Hosts, Write);
        Assert.Same(first, cache.GetOrWrite("ns/app", View(5, 3), Hosts, Write));
        Assert.Equal(1, writes);

        // Any part of the version moves it: sequence, generation, tag count, item count; so do other host names.
        Assert.NotSame(first, cache.GetOrWrite("ns/app", View(6, 3), Hosts, Write));
        Assert.Equal(2, writes);
        cache.GetOrWrite("ns/app", View(6, 3, generation: 2), Hosts, Write);
        cache.GetOrWrite("ns/app", View(6, 4, generation: 2), Hosts, Write);
        cache.GetOrWrite("ns/app", View(6, 4, items: 2, generation: 2), Hosts, Write);
        Assert.Equal(5, writes);
        cache.GetOrWrite("ns/app", View(6, 4, items: 2, generation: 2), new RegistryHosts("other:5000", null), Write);
        Assert.Equal(6, writes);

        // One document per repository and host names: the latest version replaced the earlier ones.
        Assert.Equal(2, cache.Count);
    }

    [Fact]
    public void SmallDocumentsAreNotKeptAndTheTotalIsBounded()
    {
        var cache = new ImageStreamDocumentCache();
        cache.GetOrWrite("ns/small", View(1, 1), Hosts, () => new byte[100]);
        Assert.Equal(0, cache.Count);

        var size = (int)(ImageStreamDocumentCache.MaxTotalBytes / 4);
        for (var i = 0; i < 6; i++)
        {
            cache.GetOrWrite($"ns/big{i}", View(1, 1), Hosts, () => new byte[size]);
        }

        Assert.Equal(4, cache.Count);
        var writes = 0;
        cache.GetOrWrite("ns/big0", View(1, 1), Hosts, () => new byte[++writes]);
        Assert.Equal(1, writes);
        cache.GetOrWrite("ns/big5", View(1, 1), Hosts, () => new byte[++writes]);
        Assert.Equal(1, writes);
    }

    [Fact]
    public async Task ALargeStreamsGetShowsEveryChange()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var repository = $"{ns}/big";
        var path = $"/apis/image.openshift.io/v1/namespaces/{ns}/imagestreams/big";
        var (digest, config, layers) = await ImageApi.PushDetailedAsync(host.Client, repository, "t000", "one");
        var manifest = Oci.ImageManifest(config, layers);

        // 300 tags of one image: a document well over the size that is kept.
        for (var t = 1; t < 300; t++)
        {
            using var put = await host.Client.PutManifestAsync(repository, $"t{t:D3}", manifest);
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        var before = await GetAsync(host.Client, path);
        Assert.True(before.Length >= ImageStreamDocumentCache.MinBytes, $"{before.Length} bytes");
        Assert.Equal(before, await GetAsync(host.Client, path));
        Assert.Equal(300, Tags(before).Count);

        // A new tag, a tag moved to another image, a tag deleted: each GET after shows it.
        using (var put = await host.Client.PutManifestAsync(repository, "t300", manifest))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        Assert.Equal(301, Tags(await GetAsync(host.Client, path)).Count);
        var other = await ImageApi.PushAsync(host.Client, repository, "t000", "two");
        var moved = Tags(await GetAsync(host.Client, path))["t000"];
        Assert.Equal([other, digest], moved);
        using (var delete = await host.Client.DeleteAsync($"/apis/image.openshift.io/v1/namespaces/{ns}/imagestreamtags/big:t300"))
        {
            Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        }

        var after = Tags(await GetAsync(host.Client, path));
        Assert.Equal(300, after.Count);
        Assert.False(after.ContainsKey("t300"));
    }

    private static async Task<byte[]> GetAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return await response.Content.ReadAsByteArrayAsync();
    }

    private static Dictionary<string, string[]> Tags(byte[] document)
    {
        using var json = System.Text.Json.JsonDocument.Parse(Encoding.UTF8.GetString(document));
        return json.RootElement.GetProperty("status").GetProperty("tags").EnumerateArray()
            .ToDictionary(t => t.GetProperty("tag").GetString()!, t => t.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("image").GetString()!).ToArray());
    }
}
