using System.Net;
using System.Text.Json;
using Orleans;
using Orleans.Streams;
using Registry.Grains;

namespace Registry.Tests;

/// <summary><c>GET /apis/registry/v1/watch</c>: live events, resume by id, filters, gaps, heartbeats.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class WatchTests
{
    private static string UniqueNamespace() => "w" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>The three events of <see cref="Oci.PushImageAsync"/> with one layer: config, layer, manifest.</summary>
    private static async Task<(string Config, string Layer, string Manifest)> PushAsync(HttpClient client, string name, string tag)
    {
        var (digest, manifest) = await client.PushImageAsync(name, tag, layers: 1);
        using var json = JsonDocument.Parse(manifest);
        return (
            json.RootElement.GetProperty("config").GetProperty("digest").GetString()!,
            json.RootElement.GetProperty("layers")[0].GetProperty("digest").GetString()!,
            digest);
    }

    [Fact]
    public async Task AWatchSeesPushesAsTheyHappenAndResumesWithExactlyTheMissedEvents()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = UniqueNamespace();
        var name = $"{ns}/app";

        string lastId;
        await using (var watch = await WatchStream.OpenAsync(host.Client, $"namespace={ns}"))
        {
            var first = await PushAsync(host.Client, name, "v1");
            var seen = await watch.ReadUntilAsync(e => e.Tag == "v1");
            Assert.Equal([first.Config, first.Layer, first.Manifest], seen.Select(e => e.Digest));
            Assert.All(seen, e => Assert.Equal("push", e.Event));
            Assert.All(seen, e => Assert.Equal(name, e.Repository));
            Assert.Equal(Oci.ManifestType, seen[^1].MediaType);
            AssertConsecutive(seen);

            // The data is the event of the notification envelope.
            var manifestEvent = seen[^1].Json;
            Assert.Equal("push", manifestEvent.GetProperty("action").GetString());
            Assert.Equal(seen[^1].EventId, manifestEvent.GetProperty("id").GetString());
            Assert.True(DateTimeOffset.TryParse(manifestEvent.GetProperty("timestamp").GetString(), out _));
            Assert.Equal(first.Manifest, manifestEvent.GetProperty("target").GetProperty("digest").GetString());
            Assert.True(manifestEvent.GetProperty("target").GetProperty("size").GetInt64() > 0);
            Assert.Equal("PUT", manifestEvent.GetProperty("request").GetProperty("method").GetString());
            Assert.False(string.IsNullOrEmpty(manifestEvent.GetProperty("source").GetProperty("instanceID").GetString()));

            lastId = watch.LastEventId!;
            Assert.Equal(seen[^1].Id, lastId);
        }

        // Disconnected: more changes happen.
        var second = await PushAsync(host.Client, name, "v2");
        var third = await PushAsync(host.Client, name, "v3");
        using (var delete = await host.Client.DeleteAsync($"/v2/{name}/manifests/v2"))
        {
            Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        }

        // Reconnecting with Last-Event-ID gives exactly what was missed, in order, then live events.
        await using (var resumed = await WatchStream.OpenAsync(host.Client, $"namespace={ns}", lastId))
        {
            var missed = await resumed.ReadUntilAsync(e => e.Event == "delete");
            Assert.Equal(
                [second.Config, second.Layer, second.Manifest, third.Config, third.Layer, third.Manifest, second.Manifest],
                missed.Select(e => e.Digest));
            Assert.Equal(["push", "push", "push", "push", "push", "push", "delete"], missed.Select(e => e.Event));
            Assert.Equal("v2", missed[^1].Tag);
            Assert.Equal(long.Parse(lastId, System.Globalization.CultureInfo.InvariantCulture) + 1, missed[0].Sequence);
            AssertConsecutive(missed);

            var live = await PushAsync(host.Client, name, "v4");
            var next = await resumed.ReadUntilAsync(e => e.Tag == "v4");
            Assert.Equal([live.Config, live.Layer, live.Manifest], next.Select(e => e.Digest));
            Assert.Equal(missed[^1].Sequence + 1, next[0].Sequence);
            Assert.False(resumed.TryNext(out var extra), $"unexpected event {extra}");
        }

        // ?since= resumes the same way (an EventSource's first connection cannot send the header).
        await using var fromQuery = await WatchStream.OpenAsync(host.Client, $"namespace={ns}&since={lastId}");
        var again = await fromQuery.NextAsync();
        Assert.Equal(second.Config, again.Digest);
        Assert.Equal(long.Parse(lastId, System.Globalization.CultureInfo.InvariantCulture) + 1, again.Sequence);
    }

    [Fact]
    public async Task NamespaceAndRepositoryFiltersApply()
    {
        var host = await SharedRegistry.GetAsync();
        var (a, b) = (UniqueNamespace(), UniqueNamespace());
        await using var wholeA = await WatchStream.OpenAsync(host.Client, $"namespace={a}");
        await using var onlyX = await WatchStream.OpenAsync(host.Client, $"namespace={a}&repository=x");
        await using var wholeB = await WatchStream.OpenAsync(host.Client, $"namespace={b}");

        var x1 = await PushAsync(host.Client, $"{a}/x", "one");
        var y1 = await PushAsync(host.Client, $"{a}/y", "one");
        var z1 = await PushAsync(host.Client, $"{b}/z", "one");
        var x2 = await PushAsync(host.Client, $"{a}/x", "end");
        var y2 = await PushAsync(host.Client, $"{a}/y", "end");
        var z2 = await PushAsync(host.Client, $"{b}/z", "end");

        var inA = await wholeA.ReadUntilAsync(e => e.Repository == $"{a}/y" && e.Tag == "end");
        Assert.Equal(
            [x1.Manifest, y1.Manifest, x2.Manifest, y2.Manifest],
            inA.Where(e => e.Tag is not null).Select(e => e.Digest));
        Assert.All(inA, e => Assert.StartsWith($"{a}/", e.Repository, StringComparison.Ordinal));
        AssertConsecutive(inA);

        var inX = await onlyX.ReadUntilAsync(e => e.Tag == "end");
        Assert.Equal([x1.Config, x1.Layer, x1.Manifest, x2.Config, x2.Layer, x2.Manifest], inX.Select(e => e.Digest));
        Assert.All(inX, e => Assert.Equal($"{a}/x", e.Repository));

        // The filtered watch's resume point moves past the events it skipped.
        await Poll.UntilAsync(() => Task.FromResult(onlyX.LastEventId == inA[^1].Id), "the filtered watch's last id reaches the namespace's last event");

        var inB = await wholeB.ReadUntilAsync(e => e.Tag == "end");
        Assert.Equal([z1.Config, z1.Layer, z1.Manifest, z2.Config, z2.Layer, z2.Manifest], inB.Select(e => e.Digest));
        Assert.Equal(1, inB[0].Sequence);

        Assert.False(wholeA.TryNext(out var extraA), $"unexpected event {extraA}");
        Assert.False(onlyX.TryNext(out var extraX), $"unexpected event {extraX}");
        Assert.False(wholeB.TryNext(out var extraB), $"unexpected event {extraB}");
    }

    [Fact]
    public async Task SingleComponentRepositoriesAreWatchedAsNamespaceUnderscore()
    {
        var host = await SharedRegistry.GetAsync();
        var name = "single" + Guid.NewGuid().ToString("N")[..12];
        await using var watch = await WatchStream.OpenAsync(host.Client, $"namespace=_&repository={name}");
        var pushed = await PushAsync(host.Client, name, "v1");
        var seen = await watch.ReadUntilAsync(e => e.Tag == "v1");
        Assert.Equal([pushed.Config, pushed.Layer, pushed.Manifest], seen.Select(e => e.Digest));
    }

    [Theory]
    [InlineData("", "NAMESPACE_INVALID")]
    [InlineData("namespace=", "NAMESPACE_INVALID")]
    [InlineData("namespace=Team", "NAMESPACE_INVALID")]
    [InlineData("namespace=team/app", "NAMESPACE_INVALID")]
    [InlineData("namespace=..", "NAMESPACE_INVALID")]
    [InlineData("namespace=team&repository=", "NAME_INVALID")]
    [InlineData("namespace=team&repository=App", "NAME_INVALID")]
    [InlineData("namespace=team&repository=a//b", "NAME_INVALID")]
    [InlineData("namespace=_&repository=a/b", "NAME_INVALID")]
    [InlineData("namespace=team&since=abc", "SINCE_INVALID")]
    [InlineData("namespace=team&since=-1", "SINCE_INVALID")]
    [InlineData("namespace=team&since=1.5", "SINCE_INVALID")]
    public async Task InvalidRequestsAre400WithAJsonError(string query, string code)
    {
        var host = await SharedRegistry.GetAsync();
        using var response = await host.Client.GetAsync("/apis/registry/v1/watch?" + query);
        await response.AssertErrorAsync(HttpStatusCode.BadRequest, code);
    }

    [Fact]
    public async Task AnInvalidLastEventIdIs400()
    {
        var host = await SharedRegistry.GetAsync();
        using var response = await host.Client.SendAsync(HttpMethod.Get, "/apis/registry/v1/watch?namespace=team", null, ("Last-Event-ID", "x1"));
        await response.AssertErrorAsync(HttpStatusCode.BadRequest, "SINCE_INVALID");
    }

    [Fact]
    public async Task ResumingFromBeforeTheOldestKeptEventGetsAGapThenTheKeptEventsAndTheLogSurvivesARestart()
    {
        using var data = new TempDirectory();
        string[] settings = ["--Registry:Events:Log:Capacity=4", "--Registry:Events:Log:SegmentSize=2"];
        var ns = UniqueNamespace();
        var name = $"{ns}/app";
        var pushed = new List<string>();

        var host = await RegistryHost.StartAsync(data.Path, settings);
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var p = await PushAsync(host.Client, name, $"v{i}");
                pushed.AddRange([p.Config, p.Layer, p.Manifest]);
            }

            // Nine events (delivered to the log asynchronously); a ring of at least four keeps the last four to five.
            var log = host.Service<IGrainFactory>().GetGrain<INamespaceEventLogGrain>(ns);
            await Poll.UntilAsync(async () => await log.GetLastSequence() == 9, "the namespace's log has the nine events");
            await using var watch = await WatchStream.OpenAsync(host.Client, $"namespace={ns}&since=0");
            var gap = await watch.NextAsync();
            Assert.Equal("gap", gap.Event);
            var oldest = gap.Json.GetProperty("oldest").GetInt64();
            Assert.InRange(oldest, 2, 6);
            Assert.Equal(oldest - 1, gap.Sequence);
            Assert.Equal(9, gap.Json.GetProperty("last").GetInt64());
            var kept = await watch.ReadUntilAsync(e => e.Sequence == 9);
            Assert.Equal(pushed.Skip((int)oldest - 1), kept.Select(e => e.Digest));
            AssertConsecutive(kept);
            Assert.Equal(oldest, kept[0].Sequence);
        }
        finally
        {
            await host.StopAsync();
        }

        await using var restarted = await RegistryHost.StartAsync(data.Path, settings);

        // Kept events and the numbering are durable.
        await using (var resumed = await WatchStream.OpenAsync(restarted.Client, $"namespace={ns}&since=7"))
        {
            Assert.Equal(pushed[7..], (await resumed.ReadUntilAsync(e => e.Sequence == 9)).Select(e => e.Digest));
            var p = await PushAsync(restarted.Client, name, "after");
            var next = await resumed.ReadUntilAsync(e => e.Tag == "after");
            Assert.Equal([10L, 11L, 12L], next.Select(e => e.Sequence));
            Assert.Equal([p.Config, p.Layer, p.Manifest], next.Select(e => e.Digest));
        }

        // An id beyond the last one (the client knows a log this registry does not): a gap, then live.
        await using var ahead = await WatchStream.OpenAsync(restarted.Client, $"namespace={ns}&since=1000");
        var unknown = await ahead.NextAsync();
        Assert.Equal("gap", unknown.Event);
        Assert.Equal(12, unknown.Sequence);
        var live = await PushAsync(restarted.Client, name, "live");
        Assert.Equal(live.Config, (await ahead.NextAsync()).Digest);
    }

    [Fact]
    public async Task ADeliveryOfManyEventsIsNumberedInOrderSealedIntoSegmentsOnceAndSurvivesARestart()
    {
        using var data = new TempDirectory();
        string[] settings = ["--Registry:Events:Log:Capacity=4", "--Registry:Events:Log:SegmentSize=2"];
        var ns = UniqueNamespace();
        var events = Enumerable.Range(0, 8).Select(i => EventSubscriberTests.Synthetic($"{ns}/app", $"v{i}")).ToArray();

        var host = await RegistryHost.StartAsync(data.Path, settings);
        try
        {
            // One publish of seven events, a recent one twice: the log gets them in one delivery.
            var stream = host.Service<IClusterClient>().GetStreamProvider(RegistryStreams.Provider).GetStream<RegistryEvent>(RegistryStreams.OfNamespace(ns));
            await stream.OnNextBatchAsync([.. events[..7], events[5]]);
            var log = host.Service<IGrainFactory>().GetGrain<INamespaceEventLogGrain>(ns);
            await Poll.UntilAsync(async () => await log.GetLastSequence() == 7, "the namespace's log has the seven events");

            // Sealed as [1,2] [3,4] [5,6] with 7 in the tail; [1,2] goes, as four newer events are kept.
            var page = await log.ReadAfter(0, 100);
            Assert.True(page.Gap);
            Assert.Equal(3, page.First);
            Assert.Equal(7, page.Last);
            Assert.Equal([3L, 4L, 5L, 6L, 7L], page.Events.Select(e => e.Sequence));
            Assert.Equal(events[2..7].Select(e => e.Id), page.Events.Select(e => e.Event.Id));

            // A redelivered event with a new one after it: only the new one is numbered.
            await stream.OnNextBatchAsync([events[6], events[7]]);
            await Poll.UntilAsync(async () => await log.GetLastSequence() == 8, "the namespace's log has the eighth event");
        }
        finally
        {
            await host.StopAsync();
        }

        await using var restarted = await RegistryHost.StartAsync(data.Path, settings);
        var stored = await restarted.Service<IGrainFactory>().GetGrain<INamespaceEventLogGrain>(ns).ReadAfter(4, 100);
        Assert.Equal(8, stored.Last);
        Assert.Equal([5L, 6L, 7L, 8L], stored.Events.Select(e => e.Sequence));
        Assert.Equal(events[4..].Select(e => e.Id), stored.Events.Select(e => e.Event.Id));
    }

    [Fact]
    public async Task IdleWatchesGetHeartbeatComments()
    {
        await using var host = await RegistryHost.StartAsync(null, "--Registry:Events:Watch:Heartbeat=00:00:00.2");
        await using var watch = await WatchStream.OpenAsync(host.Client, $"namespace={UniqueNamespace()}");
        await Poll.UntilAsync(() => Task.FromResult(watch.Comments >= 3), "three heartbeats arrive");
        Assert.False(watch.TryNext(out var e), $"unexpected event {e}");
    }

    private static void AssertConsecutive(IReadOnlyList<SseEvent> events)
    {
        for (var i = 1; i < events.Count; i++)
        {
            Assert.Equal(events[i - 1].Sequence + 1, events[i].Sequence);
        }
    }
}
