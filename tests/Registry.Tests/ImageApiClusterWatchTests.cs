using System.Diagnostics;
using System.Net;
using Xunit.Abstractions;

namespace Registry.Tests;

/// <summary>
/// The image API's watch across namespaces in cluster mode: a push through one replica reaches a
/// watcher on another (each replica's feed reads the registry-wide stream), and a resourceVersion
/// of one replica's feed is 410 on another.
/// </summary>
[Trait("Category", TestCategories.Process)]
[Trait("Category", TestCategories.Azurite)]
public sealed class ImageApiClusterWatchTests(ITestOutputHelper output)
{
    private const string V1 = "/apis/image.openshift.io/v1";

    [Fact]
    public async Task APushThroughOneReplicaReachesAWatchAcrossNamespacesOnAnother()
    {
        await using var azurite = await Azurite.StartAsync();
        var cluster = "c" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await RegistryProcess.StartAsync(azurite.ConnectionString, cluster);
        await using var b = await RegistryProcess.StartAsync(azurite.ConnectionString, cluster);

        using var list = await ImageApi.GetJsonAsync(b.Client, $"{V1}/imagestreams");
        var version = list.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString()!;
        using var cts = Bounded.Token();
        using var response = await b.Client.GetAsync($"{V1}/imagestreams?watch=true&resourceVersion={version}", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));

        var latencies = new List<TimeSpan>();
        foreach (var (ns, tag) in new[] { ("one", "v1"), ("two", "v1"), ("one", "v2") })
        {
            var pushed = await ImageApi.PushAsync(a.Client, $"{ns}/app", tag, $"cluster-{ns}-{tag}");
            var clock = Stopwatch.StartNew();
            using var change = await ImageApiWatchAcrossTests.ReadUntilAsync(reader, e => ImageApiWatchAcrossTests.Images(e.GetProperty("object")).Contains(pushed), cts.Token);
            latencies.Add(clock.Elapsed);
            Assert.Equal(ns, change.RootElement.GetProperty("object").GetProperty("metadata").GetProperty("namespace").GetString());
        }

        output.WriteLine($"cluster, push through A acknowledged -> event on B's cross-namespace watch: {string.Join(", ", latencies.Select(l => $"{l.TotalMilliseconds:F0} ms"))}");

        // B's position means nothing to A's feed (another epoch): list again there.
        await ImageApi.AssertStatusAsync(a.Client, $"{V1}/imagestreams?watch=true&resourceVersion={version}", 410, "Expired");
        using var onA = await ImageApi.GetJsonAsync(a.Client, $"{V1}/imagestreams");
        Assert.NotEqual(version, onA.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString());
    }
}

/// <summary>
/// Deleted images in cluster mode: the replica that served a push records the holding, a delete
/// through it leaves no holder, and a watch of images on the other replica sends DELETED; a GET
/// there is 404.
/// </summary>
[Trait("Category", TestCategories.Process)]
[Trait("Category", TestCategories.Azurite)]
public sealed class ImageApiClusterDeletedTests(ITestOutputHelper output)
{
    private const string V1 = "/apis/image.openshift.io/v1";

    [Fact]
    public async Task AnImageDeletedThroughOneReplicaIsDeletedOnAWatchOnAnother()
    {
        await using var azurite = await Azurite.StartAsync();
        var cluster = "c" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await RegistryProcess.StartAsync(azurite.ConnectionString, cluster);
        await using var b = await RegistryProcess.StartAsync(azurite.ConnectionString, cluster);

        using var list = await ImageApi.GetJsonAsync(b.Client, $"{V1}/images");
        var version = list.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString()!;
        using var cts = Bounded.Token();
        using var response = await b.Client.GetAsync($"{V1}/images?watch=true&resourceVersion={version}", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));

        var digest = await ImageApi.PushAsync(a.Client, "del/app", "v1", "cluster-deleted");
        using (var added = await ImageApiWatchAcrossTests.ReadUntilAsync(reader, e => e.GetProperty("object").GetProperty("metadata").GetProperty("name").GetString() == digest, cts.Token))
        {
            Assert.Equal("ADDED", added.RootElement.GetProperty("type").GetString());
            Assert.Equal("arm64", added.RootElement.GetProperty("object").GetProperty("dockerImageMetadata").GetProperty("Architecture").GetString());
        }

        var clock = Stopwatch.StartNew();
        using (var delete = await a.Client.DeleteAsync($"/v2/del/app/manifests/{digest}"))
        {
            Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        }

        using var gone = await ImageApiWatchAcrossTests.ReadUntilAsync(reader, e => e.GetProperty("object").GetProperty("metadata").GetProperty("name").GetString() == digest, cts.Token);
        output.WriteLine($"cluster, manifest delete through A acknowledged -> DELETED on B's watch of images: {clock.Elapsed.TotalMilliseconds:F0} ms");
        Assert.Equal("DELETED", gone.RootElement.GetProperty("type").GetString());
        Assert.Equal($"{b.Authority}/del/app@{digest}", gone.RootElement.GetProperty("object").GetProperty("dockerImageReference").GetString());
        await ImageApi.AssertStatusAsync(b.Client, $"{V1}/images/{digest}", 404, "NotFound");
        await ImageApi.AssertStatusAsync(a.Client, $"{V1}/images/{digest}", 404, "NotFound");
    }
}
