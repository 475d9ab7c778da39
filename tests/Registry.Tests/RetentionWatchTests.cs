using System.Globalization;
using System.Net;
using System.Text.Json;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>
/// A retention run that prunes tag history reaches watchers of image streams at once (a MODIFIED
/// event with the pruned history and a new resourceVersion), not at the stream's next change; and
/// an image it leaves held by no repository is DELETED on the watch of images (docs/image-api.md).
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class RetentionWatchTests
{
    private const string V1 = "/apis/image.openshift.io/v1";

    [Fact]
    public async Task PrunedTagHistoryIsAModifiedStreamAndAnImageNoLongerHeldIsDeleted()
    {
        var host = await SharedRegistry.GetAsync();
        var client = host.Client;
        var ns = ImageApi.Namespace();
        var name = $"{ns}/app";
        var revisions = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            revisions.Add(await ImageApi.PushAsync(client, name, "t", $"history-{i}"));
        }

        foreach (var revision in revisions.Take(2))
        {
            var image = host.Service<IGrainFactory>().GetGrain<IImageGrain>(revision);
            await Poll.UntilAsync(async () => (await image.GetHolding()).Holders == 1, "the repository is recorded as holding the older images");
        }

        using var cts = Bounded.Token();
        using var list = await ImageApi.GetJsonAsync(client, $"{V1}/namespaces/{ns}/imagestreams");
        var listed = long.Parse(list.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString()!, CultureInfo.InvariantCulture);
        using var streams = await OpenWatchAsync(client, $"{V1}/namespaces/{ns}/imagestreams?watch=true&resourceVersion={listed}", cts.Token);
        using var images = await OpenImagesWatchAsync(client, cts.Token);

        // The log is fed asynchronously: once a later push's event has arrived, every event of
        // the pushes above has too, so an event of app after this is the run's own.
        await ImageApi.PushAsync(client, $"{ns}/marker", "v1", "history-marker");
        await ReadUntilAsync(streams, e => NameOf(e) == "marker", cts.Token);

        // History only: the entries beyond the newest go, their manifests stay (untagged: keep).
        await RetentionTests.PutPolicyAsync(client, ns, "history", new { keepTagRevisions = 1, keepYoungerThan = "0s" });
        var run = await RetentionTests.RunAsync(client, ns, "history", dryRun: false);
        var repository = Assert.Single(run.GetProperty("status").GetProperty("repositories").EnumerateArray());
        Assert.Equal(2, repository.GetProperty("historyDropped").GetArrayLength());
        Assert.Empty(repository.GetProperty("manifestsDeleted").EnumerateArray());

        var pruned = await ReadUntilAsync(streams, e => NameOf(e) == "app", cts.Token);
        Assert.Equal("MODIFIED", pruned.GetProperty("type").GetString());
        Assert.Equal([revisions[2]], ItemsOf(pruned, "t"));
        var prunedVersion = long.Parse(pruned.GetProperty("object").GetProperty("metadata").GetProperty("resourceVersion").GetString()!, CultureInfo.InvariantCulture);
        Assert.True(prunedVersion > listed, $"{prunedVersion} is not after {listed}");

        // Untagged now, the older manifests go with a second policy: the stream is MODIFIED again and the images DELETED.
        await RetentionTests.PutPolicyAsync(client, ns, "untagged", new { untagged = "delete", keepYoungerThan = "0s" });
        var second = await RetentionTests.RunAsync(client, ns, "untagged", dryRun: false);
        Assert.Equal(
            revisions.Take(2).Order(StringComparer.Ordinal),
            Assert.Single(second.GetProperty("status").GetProperty("repositories").EnumerateArray()).GetProperty("manifestsDeleted").EnumerateArray().Select(d => d.GetString()));
        var after = await ReadUntilAsync(streams, e => Version(e) > prunedVersion, cts.Token);
        Assert.Equal("MODIFIED", after.GetProperty("type").GetString());
        Assert.Equal([revisions[2]], ItemsOf(after, "t"));

        var deleted = new HashSet<string>(StringComparer.Ordinal);
        while (deleted.Count < 2)
        {
            var e = await ReadUntilAsync(images, e => e.GetProperty("type").GetString() == "DELETED" && revisions.Contains(NameOf(e)), cts.Token);
            deleted.Add(NameOf(e));
        }

        Assert.Equal(revisions.Take(2).Order(StringComparer.Ordinal), deleted.Order(StringComparer.Ordinal));
        await ImageApi.AssertStatusAsync(client, $"{V1}/images/{revisions[0]}", 404, "NotFound");
        await ImageApi.GetJsonAsync(client, $"{V1}/images/{revisions[2]}");
    }

    private static async Task<StreamReader> OpenWatchAsync(HttpClient client, string path, CancellationToken ct)
    {
        var response = await client.GetAsync(path, HttpCompletionOption.ResponseHeadersRead, ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return new StreamReader(await response.Content.ReadAsStreamAsync(ct));
    }

    /// <summary>A watch of images from a list's resourceVersion (a watch of images without one starts at the present).</summary>
    private static async Task<StreamReader> OpenImagesWatchAsync(HttpClient client, CancellationToken ct)
    {
        using var list = await ImageApi.GetJsonAsync(client, $"{V1}/images?limit=1");
        var version = list.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString()!;
        return await OpenWatchAsync(client, $"{V1}/images?watch=true&resourceVersion={version}", ct);
    }

    private static async Task<JsonElement> ReadUntilAsync(StreamReader reader, Func<JsonElement, bool> match, CancellationToken ct)
    {
        using var e = await ImageApiWatchAcrossTests.ReadUntilAsync(reader, match, ct);
        return e.RootElement.Clone();
    }

    private static string NameOf(JsonElement e) => e.GetProperty("object").GetProperty("metadata").GetProperty("name").GetString()!;

    private static long Version(JsonElement e)
        => long.Parse(e.GetProperty("object").GetProperty("metadata").GetProperty("resourceVersion").GetString()!, CultureInfo.InvariantCulture);

    /// <summary>The images of a status tag, newest first; null when the stream has no such tag.</summary>
    private static List<string>? ItemsOf(JsonElement e, string tag)
        => e.GetProperty("object").GetProperty("status").TryGetProperty("tags", out var tags)
            ? tags.EnumerateArray().Where(t => t.GetProperty("tag").GetString() == tag)
                .Select(t => t.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("image").GetString()!).ToList())
                .FirstOrDefault()
            : null;
}
