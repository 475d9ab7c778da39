using System.Text;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>The exact bytes of the notification envelope, and the duplicate window of the consumers.</summary>
[Trait("Category", "Fast")]
public sealed class WebhookEnvelopeTests
{
    private static readonly RegistryEvent Full = new(
        "6f6f62e2f0244476aec4110bf03d3e44",
        new DateTimeOffset(2025, 3, 4, 5, 6, 7, TimeSpan.FromHours(2)).AddTicks(1_234_500),
        RegistryEvent.Mount,
        new EventTarget("application/vnd.oci.image.manifest.v1+json", "sha256:abc", 1234, "team/app", "team/base", "http://registry.local/v2/team/app/manifests/sha256:abc", "v1"),
        new EventRequest("req-1", "127.0.0.1:5000", "registry.local", "PUT", "skopeo/1.14 <x> & \"q\" é"),
        "alice",
        new EventSourceReplica("10.0.0.1:8080", "instance-1"),
        7);

    // Wrapped for reading: the lines join without separators.
    private static readonly string FullJson = """
        {"id":"6f6f62e2f0244476aec4110bf03d3e44","timestamp":"2025-03-04T03:06:07.12345Z","action":"mount",
        "target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:abc","size":1234,"length":1234,"repository":"team/app",
        "fromRepository":"team/base","url":"http://registry.local/v2/team/app/manifests/sha256:abc","tag":"v1"},
        "request":{"id":"req-1","addr":"127.0.0.1:5000","host":"registry.local","method":"PUT","useragent":"skopeo/1.14 <x> & \"q\" é"},
        "actor":{"name":"alice"},"source":{"addr":"10.0.0.1:8080","instanceID":"instance-1"},"generation":7}
        """.ReplaceLineEndings("");

    /// <summary>Optional fields empty or null, no request behind it, a whole-second timestamp.</summary>
    private static readonly RegistryEvent Bare = new(
        "e2",
        new DateTimeOffset(2025, 3, 4, 5, 6, 7, TimeSpan.Zero),
        RegistryEvent.Delete,
        new EventTarget(null, "", 0, "app", null, "", null),
        EventRequest.None,
        null,
        EventSourceReplica.None,
        0);

    private static readonly string BareJson = """
        {"id":"e2","timestamp":"2025-03-04T05:06:07Z","action":"delete","target":{"size":0,"length":0,"repository":"app"},
        "request":{"id":"","addr":"","host":"","method":"","useragent":""},"actor":{},"source":{"addr":"","instanceID":""},"generation":0}
        """.ReplaceLineEndings("");

    [Fact]
    public void AnEventIsWrittenInTheReferenceShape()
    {
        Assert.Equal(FullJson, Encoding.UTF8.GetString(EventEnvelope.SerializeEvent(Full)));
        Assert.Equal(BareJson, Encoding.UTF8.GetString(EventEnvelope.SerializeEvent(Bare)));
    }

    [Fact]
    public void TheEnvelopeListsTheEventsInOrder()
    {
        Assert.Equal($$"""{"events":[{{FullJson}},{{BareJson}}]}""", Encoding.UTF8.GetString(EventEnvelope.Serialize([Full, Bare])));
        Assert.Equal("""{"events":[]}""", Encoding.UTF8.GetString(EventEnvelope.Serialize([])));
    }

    [Fact]
    public void RecentIdsForgetsTheOldestBeyondItsCapacity()
    {
        var recent = new RecentIds(3);
        Assert.True(recent.Add("a"));
        Assert.True(recent.Add("b"));
        Assert.False(recent.Add("a"));
        Assert.True(recent.Add("c"));
        Assert.True(recent.Add("d"));

        Assert.Equal(["b", "c", "d"], recent);
        Assert.Equal(3, recent.Count);
        Assert.False(recent.Contains("a"));
        Assert.True(recent.Add("a"));
        Assert.Equal(["c", "d", "a"], recent);
    }
}
