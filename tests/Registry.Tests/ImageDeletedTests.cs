using System.Net;
using System.Text.Json;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>
/// DELETED events of images: an image is gone once no repository holds its manifest (a manifest
/// delete in the last holding repository, an image stream's delete, a collection of untagged
/// manifests); the watch of images sends it once with the image as last known, and a GET is 404.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ImageDeletedTests
{
    private const string V1 = "/apis/image.openshift.io/v1";

    [Fact]
    public async Task AnImageIsDeletedWhenTheLastRepositoryHoldingItLetsItGo()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var (digest, config, _) = await ImageApi.PushDetailedAsync(host.Client, $"{ns}/a", "v1", "deleted-1");
        using var stored = await host.Client.GetAsync($"/v2/{ns}/a/manifests/{digest}");
        var manifest = await stored.Content.ReadAsByteArrayAsync();
        await CopyAsync(host.Client, $"{ns}/a", $"{ns}/b", digest);
        var image = host.Service<IGrainFactory>().GetGrain<IImageGrain>(digest);
        await Poll.UntilAsync(async () => (await image.GetHolding()).Holders == 2, "both repositories are recorded as holding the image");

        using var cts = Bounded.Token();
        using var reader = await WatchAsync(host.Client, cts.Token);

        // Still held by b: no DELETED (the marker pushed after comes first).
        await DeleteManifestAsync(host.Client, $"{ns}/a", digest);
        var marker = await ImageApi.PushAsync(host.Client, $"{ns}/c", "v1", "deleted-marker");
        using (var first = await ImageApiWatchAcrossTests.ReadUntilAsync(reader, e => Name(e) == marker || (Name(e) == digest && Type(e) == "DELETED"), cts.Token))
        {
            Assert.Equal(marker, Name(first.RootElement));
        }

        await ImageApi.GetJsonAsync(host.Client, $"{V1}/images/{digest}");

        // The image stream b deleted through the API: the last holder goes.
        using (var deleted = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Delete, $"{V1}/namespaces/{ns}/imagestreams/b", ""))
        {
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        }

        using var gone = await ImageApiWatchAcrossTests.ReadUntilAsync(reader, e => Name(e) == digest && Type(e) != "ADDED", cts.Token);
        Assert.Equal("DELETED", gone.RootElement.GetProperty("type").GetString());
        var last = gone.RootElement.GetProperty("object");
        Assert.Equal("Image", last.GetProperty("kind").GetString());
        Assert.Equal($"{host.Authority}/{ns}/b@{digest}", last.GetProperty("dockerImageReference").GetString());
        Assert.Equal(Oci.Digest(config), last.GetProperty("dockerImageMetadata").GetProperty("Id").GetString());
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/images/{digest}", 404, "NotFound");
        Assert.True((await image.GetHolding()).Deleted);

        // Pushed again (a's blob links stay): it exists again, and the watch sends it as ADDED.
        using (var put = await host.Client.PutManifestAsync($"{ns}/a", digest, manifest))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        using var again = await ImageApiWatchAcrossTests.ReadUntilAsync(reader, e => Name(e) == digest, cts.Token);
        Assert.Equal("ADDED", again.RootElement.GetProperty("type").GetString());
        await Poll.UntilAsync(async () => !(await image.GetHolding()).Deleted, "the image is held again");
        await ImageApi.GetJsonAsync(host.Client, $"{V1}/images/{digest}");
    }

    [Fact]
    public async Task AnImageDeletedRightAfterItsPushIsDeleted()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        using var cts = Bounded.Token();
        using var reader = await WatchAsync(host.Client, cts.Token);
        var digests = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            // No wait between the push and the delete: the delete may be seen before the push is recorded.
            var digest = await ImageApi.PushAsync(host.Client, $"{ns}/app{i}", "v1", $"quick-{i}");
            await DeleteManifestAsync(host.Client, $"{ns}/app{i}", digest);
            digests.Add(digest);
        }

        foreach (var digest in digests)
        {
            using var gone = await ImageApiWatchAcrossTests.ReadUntilAsync(reader, e => Name(e) == digest && Type(e) != "ADDED", cts.Token);
            Assert.Equal("DELETED", Type(gone.RootElement));
            await ImageApi.AssertStatusAsync(host.Client, $"{V1}/images/{digest}", 404, "NotFound");
        }
    }

    [Fact]
    public async Task ACollectionOfUntaggedManifestsDeletesTheirImages()
    {
        await using var host = await RegistryHost.StartAsync(null, "--Registry:GarbageCollection:RemoveUntagged=true");
        var ns = ImageApi.Namespace();
        var moved = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "collected-1");
        var current = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "collected-2");
        var image = host.Service<IGrainFactory>().GetGrain<IImageGrain>(moved);
        await Poll.UntilAsync(async () => (await image.GetHolding()).Holders == 1, "the repository is recorded as holding the image");

        using var cts = Bounded.Token();
        using var reader = await WatchAsync(host.Client, cts.Token);
        var run = new GarbageCollectionRun(Guid.NewGuid().ToString("N"), false, DateTimeOffset.UtcNow, 1);
        var report = await host.Service<IGarbageCollector>().CollectAsync(run, DateTimeOffset.UtcNow + TimeSpan.FromDays(30), CancellationToken.None).WithinAsync();
        Assert.Null(report.Error);

        using var gone = await ImageApiWatchAcrossTests.ReadUntilAsync(reader, e => Name(e) is var n && (n == moved || n == current) && Type(e) != "ADDED", cts.Token);
        Assert.Equal("DELETED", gone.RootElement.GetProperty("type").GetString());
        Assert.Equal(moved, Name(gone.RootElement));
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/images/{moved}", 404, "NotFound");
        await ImageApi.GetJsonAsync(host.Client, $"{V1}/images/{current}");
    }

    private static string? Type(JsonElement e) => e.GetProperty("type").GetString();

    private static string? Name(JsonElement e) => e.GetProperty("object").GetProperty("metadata").GetProperty("name").GetString();

    /// <summary>A watch of images from a list's resourceVersion.</summary>
    private static async Task<StreamReader> WatchAsync(HttpClient client, CancellationToken ct)
    {
        using var list = await ImageApi.GetJsonAsync(client, $"{V1}/images?limit=1");
        var version = list.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString()!;
        var response = await client.GetAsync($"{V1}/images?watch=true&resourceVersion={version}", HttpCompletionOption.ResponseHeadersRead, ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return new StreamReader(await response.Content.ReadAsStreamAsync(ct));
    }

    internal static async Task DeleteManifestAsync(HttpClient client, string repository, string digest)
    {
        using var response = await client.DeleteAsync($"/v2/{repository}/manifests/{digest}");
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    /// <summary>Copies a manifest and its blobs from one repository to another over /v2 (mounts, then a push by digest).</summary>
    private static async Task CopyAsync(HttpClient client, string from, string to, string digest)
    {
        using var get = await client.GetAsync($"/v2/{from}/manifests/{digest}");
        var manifest = await get.Content.ReadAsByteArrayAsync();
        using var document = JsonDocument.Parse(manifest);
        var blobs = document.RootElement.GetProperty("layers").EnumerateArray().Append(document.RootElement.GetProperty("config")).Select(d => d.GetProperty("digest").GetString()!);
        foreach (var blob in blobs)
        {
            using var mount = await client.PostAsync($"/v2/{to}/blobs/uploads/?mount={blob}&from={from}", null);
            Assert.Equal(HttpStatusCode.Created, mount.StatusCode);
        }

        using var put = await client.PutManifestAsync(to, digest, manifest);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
    }
}

/// <summary><c>kubectl get images -w</c> shows an image deleted.</summary>
[Trait("Category", TestCategories.Kubectl)]
public sealed class KubectlImageDeletedTests
{
    [Fact]
    public async Task KubectlWatchOfImagesShowsADeletedImage()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var digest = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "kubectl-deleted");
        using var kubectl = new Kubectl(host.BaseAddress);
        await using var watch = await kubectl.StartAsync("get", "images", "-w", "--output-watch-events", "--chunk-size=1");
        await watch.WaitForLineAsync(l => l.StartsWith("EVENT", StringComparison.Ordinal));
        await ImageDeletedTests.DeleteManifestAsync(host.Client, $"{ns}/app", digest);
        var line = await watch.WaitForLineAsync(l => l.Contains(digest, StringComparison.Ordinal) && l.StartsWith("DELETED", StringComparison.Ordinal));
        Assert.Contains($"{host.Authority}/{ns}/app@{digest}", line, StringComparison.Ordinal);
    }
}
