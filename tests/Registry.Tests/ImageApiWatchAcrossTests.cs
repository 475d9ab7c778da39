using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Registry.Api.Images;
using Registry.Grains;
using Xunit.Abstractions;

namespace Registry.Tests;

/// <summary>
/// Watches across namespaces (<c>/imagestreams?watch=true</c>) and of images (<c>/images?watch=true</c>),
/// read from the process's feed of the registry-wide event stream; BOOKMARK events; 410 for a
/// position the feed does not hold.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ImageApiWatchAcrossTests(ITestOutputHelper output)
{
    private const string V1 = "/apis/image.openshift.io/v1";

    [Fact]
    public async Task AWatchFromAListAcrossNamespacesSeesPushesInEveryNamespace()
    {
        var host = await SharedRegistry.GetAsync();
        var (first, second) = (ImageApi.Namespace(), ImageApi.Namespace());
        await ImageApi.PushAsync(host.Client, $"{first}/app", "v1", "across-1");
        using var list = await ImageApi.GetJsonAsync(host.Client, $"{V1}/imagestreams?limit=1");
        var version = list.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString()!;

        using var cts = Bounded.Token();
        using var response = await host.Client.GetAsync($"{V1}/imagestreams?watch=true&resourceVersion={version}", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));

        // Every test of the process shares the registry: events of other namespaces may come in between.
        var latencies = new List<TimeSpan>();
        foreach (var (ns, label) in new[] { (first, "across-2"), (second, "across-3"), (first, "across-4"), (second, "across-5") })
        {
            var clock = Stopwatch.StartNew();
            var pushed = await ImageApi.PushAsync(host.Client, $"{ns}/app", label, label);
            var acknowledged = clock.Elapsed;
            using var change = await ReadUntilAsync(reader, e => e.GetProperty("object").GetProperty("metadata").GetProperty("namespace").GetString() == ns && Images(e.GetProperty("object")).Contains(pushed), cts.Token);
            latencies.Add(clock.Elapsed - acknowledged);
            var stream = change.RootElement.GetProperty("object");
            Assert.Equal("MODIFIED", change.RootElement.GetProperty("type").GetString());
            Assert.Equal("app", stream.GetProperty("metadata").GetProperty("name").GetString());
            Assert.True(ulong.Parse(stream.GetProperty("metadata").GetProperty("resourceVersion").GetString()!, CultureInfo.InvariantCulture) > ulong.Parse(version, CultureInfo.InvariantCulture));
        }

        latencies.Sort();
        output.WriteLine($"cross-namespace watch, push acknowledged -> event: {string.Join(", ", latencies.Select(l => $"{l.TotalMilliseconds:F0} ms"))}");
    }

    [Fact]
    public async Task AWatchWithoutAVersionStartsWithTheStreamsAddedAndSelectsByNamespaceAndName()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        await ImageApi.PushAsync(host.Client, $"{ns}/a", "v1", "sel-a");
        await ImageApi.PushAsync(host.Client, $"{ns}/b", "v1", "sel-b");

        using var cts = Bounded.Token();
        using var response = await host.Client.GetAsync($"{V1}/imagestreams?watch=true&fieldSelector=metadata.namespace%3D{ns}", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
        using var a = await ReadEventAsync(reader, cts.Token);
        using var b = await ReadEventAsync(reader, cts.Token);
        Assert.Equal(["ADDED", "ADDED"], new[] { a, b }.Select(e => e.RootElement.GetProperty("type").GetString()));
        Assert.Equal(["a", "b"], new[] { a, b }.Select(e => e.RootElement.GetProperty("object").GetProperty("metadata").GetProperty("name").GetString()));

        using var named = await host.Client.GetAsync($"{V1}/imagestreams?watch=true&fieldSelector=metadata.namespace%3D{ns},metadata.name%3Db", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        using var namedReader = new StreamReader(await named.Content.ReadAsStreamAsync(cts.Token));
        using var onlyB = await ReadEventAsync(namedReader, cts.Token);
        Assert.Equal("b", onlyB.RootElement.GetProperty("object").GetProperty("metadata").GetProperty("name").GetString());
        await ImageApi.PushAsync(host.Client, $"{ns}/a", "v2", "sel-a2");
        var pushed = await ImageApi.PushAsync(host.Client, $"{ns}/b", "v2", "sel-b2");


        // The feed is fed asynchronously: b's first push may still come before; nothing of a comes.
        using var next = await ReadUntilAsync(
            namedReader,
            e => Assert.IsType<string>(e.GetProperty("object").GetProperty("metadata").GetProperty("name").GetString()) == "b" && Images(e.GetProperty("object")).Contains(pushed),
            cts.Token);
        Assert.Equal("MODIFIED", next.RootElement.GetProperty("type").GetString());
    }

    [Fact]
    public async Task AWatchOfImagesSeesEachNewManifestOnceAsAdded()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        using var list = await ImageApi.GetJsonAsync(host.Client, $"{V1}/images?limit=1");
        var version = list.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString()!;

        using var cts = Bounded.Token();
        using var response = await host.Client.GetAsync($"{V1}/images?watch=true&resourceVersion={version}", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
        var (digest, config, _) = await ImageApi.PushDetailedAsync(host.Client, $"{ns}/app", "v1", "watched-image");
        using var added = await ReadUntilAsync(reader, e => e.GetProperty("object").GetProperty("metadata").GetProperty("name").GetString() == digest, cts.Token);
        Assert.Equal("ADDED", added.RootElement.GetProperty("type").GetString());
        var image = added.RootElement.GetProperty("object");
        Assert.Equal("Image", image.GetProperty("kind").GetString());
        Assert.Equal($"{host.Authority}/{ns}/app@{digest}", image.GetProperty("dockerImageReference").GetString());
        Assert.Equal(Oci.Digest(config), image.GetProperty("dockerImageMetadata").GetProperty("Id").GetString());

        // The same manifest under another tag is no new image for this watch; the next one is.
        using var manifest = await host.Client.GetAsync($"/v2/{ns}/app/manifests/{digest}");
        using var retag = await host.Client.PutManifestAsync($"{ns}/app", "again", await manifest.Content.ReadAsByteArrayAsync());
        Assert.Equal(HttpStatusCode.Created, retag.StatusCode);
        var other = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v2", "watched-image-2");
        using var next = await ReadUntilAsync(reader, e => e.GetProperty("object").GetProperty("metadata").GetProperty("name").GetString() is var n && (n == digest || n == other), cts.Token);
        Assert.Equal(other, next.RootElement.GetProperty("object").GetProperty("metadata").GetProperty("name").GetString());
    }

    [Fact]
    public async Task AVersionTheFeedDoesNotHoldIsGone()
    {
        var host = await SharedRegistry.GetAsync();
        using var list = await ImageApi.GetJsonAsync(host.Client, $"{V1}/imagestreams?limit=1");
        var version = ulong.Parse(list.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString()!, CultureInfo.InvariantCulture);

        // Beyond the last event, from another run or replica (another epoch), from the start of the numbering.
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/imagestreams?watch=true&resourceVersion={version + 1_000_000}", 410, "Expired");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/imagestreams?watch=true&resourceVersion={version ^ (1UL << 50)}", 410, "Expired");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/images?watch=true&resourceVersion=5", 410, "Expired");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/imagestreams?watch=true&resourceVersion=-1", 400, "BadRequest");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/imagestreams?watch=true&resourceVersion=99999999999999999999", 400, "BadRequest");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/imagestreams?watch=true&fieldSelector=spec.x%3D1", 400, "BadRequest");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/images?watch=true&fieldSelector=metadata.namespace%3Dx", 400, "BadRequest");
        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/images?watch=true&timeoutSeconds=x", 400, "BadRequest");

        // A watch ends after its timeoutSeconds (here with nothing to send: a namespace nobody uses, an image nobody pushes).
        foreach (var query in new[] { $"imagestreams?fieldSelector=metadata.namespace%3D{ImageApi.Namespace()}", $"images?fieldSelector=metadata.name%3Dsha256:{new string('0', 64)}" })
        {
            using var ended = await host.Client.GetAsync($"{V1}/{query}&watch=true&timeoutSeconds=1");
            Assert.Equal(HttpStatusCode.OK, ended.StatusCode);
            Assert.Empty(await ended.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task TheFeedHoldsItsCapacityOfEventsAndNoMore()
    {
        var feed = new ImageEventFeed();
        var start = feed.Position;
        Assert.True(feed.Holds(start));
        Assert.False(feed.Holds(start + 1));
        Assert.False(feed.Holds(start ^ (1L << 45)));
        for (var i = 0; i < ImageEventFeed.Capacity; i++)
        {
            await feed.OnEventAsync(Event(i), CancellationToken.None);
        }

        // Exactly Capacity events after the start are held; one more and the start is gone.
        Assert.True(feed.Holds(start));
        Assert.Equal(256, feed.ReadAfter(start, 256)!.Count);
        await feed.OnEventAsync(Event(ImageEventFeed.Capacity), CancellationToken.None);
        Assert.False(feed.Holds(start));
        Assert.Null(feed.ReadAfter(start, 256));
        var tail = feed.ReadAfter(start + 1, ImageEventFeed.Capacity + 10)!;
        Assert.Equal(ImageEventFeed.Capacity, tail.Count);
        Assert.Equal(feed.Position, tail[^1].Sequence);
        Assert.Equal($"team/r{ImageEventFeed.Capacity}", tail[^1].Event.Repository);

        // Refusals are no image change: not in the feed.
        var position = feed.Position;
        await feed.OnEventAsync(Event(0) with { Refusal = new AccessRefusal(403, "forbidden", "", "/v2/") }, CancellationToken.None);
        Assert.Equal(position, feed.Position);

        // A waiter wakes with the next event, not before.
        var waiting = feed.WaitAfterAsync(position, TimeSpan.FromMinutes(1), CancellationToken.None);
        Assert.False(waiting.IsCompleted);
        await feed.OnEventAsync(Event(1), CancellationToken.None);
        await waiting.WithinAsync();
    }

    [Fact]
    public async Task BookmarksComeEveryIntervalWhenAskedFor()
    {
        await using var host = await RegistryHost.StartAsync(null, "--Registry:ImageApi:WatchBookmarkInterval=00:00:00.2");
        var ns = ImageApi.Namespace();
        await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "bookmarked");
        using var cts = Bounded.Token();
        foreach (var (path, kind) in new[] { ($"{V1}/namespaces/{ns}/imagestreams", "ImageStream"), ($"{V1}/imagestreams", "ImageStream"), ($"{V1}/images", "Image") })
        {
            using var list = await ImageApi.GetJsonAsync(host.Client, path);
            var version = list.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString()!;
            using var response = await host.Client.GetAsync($"{path}?watch=true&allowWatchBookmarks=true&resourceVersion={version}", HttpCompletionOption.ResponseHeadersRead, cts.Token);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
            using var first = await ReadUntilAsync(reader, e => e.GetProperty("type").GetString() == "BOOKMARK", cts.Token);
            using var second = await ReadUntilAsync(reader, e => e.GetProperty("type").GetString() == "BOOKMARK", cts.Token);
            var bookmark = second.RootElement.GetProperty("object");
            Assert.Equal(kind, bookmark.GetProperty("kind").GetString());
            Assert.Equal("image.openshift.io/v1", bookmark.GetProperty("apiVersion").GetString());
            Assert.Equal(["resourceVersion"], bookmark.GetProperty("metadata").EnumerateObject().Select(p => p.Name));

            // The bookmark's version is a point to resume from.
            var resumeAt = bookmark.GetProperty("metadata").GetProperty("resourceVersion").GetString();
            using var resumed = await host.Client.GetAsync($"{path}?watch=true&resourceVersion={resumeAt}&timeoutSeconds=1", HttpCompletionOption.ResponseHeadersRead, cts.Token);
            Assert.Equal(HttpStatusCode.OK, resumed.StatusCode);
        }

        // Without allowWatchBookmarks a watch carries only changes: the first line is the push.
        using var plain = await host.Client.GetAsync($"{V1}/namespaces/{ns}/imagestreams?watch=true&resourceVersion={await VersionAsync(host, ns)}", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        using var plainReader = new StreamReader(await plain.Content.ReadAsStreamAsync(cts.Token));
        await ImageApi.PushAsync(host.Client, $"{ns}/app", "v2", "bookmarked-2");
        using var change = await ReadEventAsync(plainReader, cts.Token);
        Assert.Equal("MODIFIED", change.RootElement.GetProperty("type").GetString());
    }

    private static async Task<string> VersionAsync(RegistryHost host, string ns)
    {
        using var list = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams");
        return list.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString()!;
    }

    private static RegistryEvent Event(int i)
        => new($"id-{i}", DateTimeOffset.UnixEpoch, RegistryEvent.Push, new EventTarget("application/vnd.oci.image.manifest.v1+json", "sha256:" + new string('a', 64), 1, $"team/r{i}", null, null, "v1"), EventRequest.None, null, new EventSourceReplica("", ""), 1);

    /// <summary>The digests of every tag's history in a stream.</summary>
    internal static HashSet<string> Images(JsonElement stream)
        => stream.GetProperty("status").GetProperty("tags").EnumerateArray().SelectMany(t => t.GetProperty("items").EnumerateArray()).Select(i => i.GetProperty("image").GetString()!).ToHashSet(StringComparer.Ordinal);

    internal static async Task<JsonDocument> ReadEventAsync(StreamReader reader, CancellationToken ct)
    {
        var line = await reader.ReadLineAsync(ct) ?? throw new Xunit.Sdk.XunitException("the watch ended");
        return JsonDocument.Parse(line);
    }

    /// <summary>Reads events until one <paramref name="match"/> accepts (others, of other tests' namespaces, are skipped).</summary>
    internal static async Task<JsonDocument> ReadUntilAsync(StreamReader reader, Func<JsonElement, bool> match, CancellationToken ct)
    {
        while (true)
        {
            var e = await ReadEventAsync(reader, ct);
            if (e.RootElement.GetProperty("type").GetString() is "ERROR")
            {
                throw new Xunit.Sdk.XunitException($"the watch ended with {e.RootElement.GetRawText()}");
            }

            if (match(e.RootElement))
            {
                return e;
            }

            e.Dispose();
        }
    }
}
