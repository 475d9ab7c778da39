using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Registry.Tests;

/// <summary>
/// ImageStream writes and spec tags over plain HTTP against the shared registry: create of an
/// empty stream with its metadata, update and patches of <c>spec.tags</c> (resolved at once,
/// generation), tracking tags that follow their source on pushes, mappings and tag updates,
/// cycles refused, and every refusal a Status that stores nothing.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ImageApiSpecTagTests
{
    private const string V1 = "/apis/image.openshift.io/v1";

    [Fact]
    public async Task ACreatedStreamIsEmptyListedAndKeepsItsMetadataAndSpec()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var body = SpecStreams.Stream("app", annotations: new() { ["kubectl.kubernetes.io/last-applied-configuration"] = "{\"x\":1}" }, labels: new() { ["team"] = "a" }, tags: [SpecStreams.Tag("prod", "ImageStreamTag", "app:missing")]);

        using var created = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreams", body);
        var stream = await created.JsonAsync(HttpStatusCode.Created);
        Assert.Equal("app", stream.GetProperty("metadata").GetProperty("name").GetString());

        using var read = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app");
        var root = read.RootElement;
        Assert.Equal("{\"x\":1}", root.GetProperty("metadata").GetProperty("annotations").GetProperty("kubectl.kubernetes.io/last-applied-configuration").GetString());
        Assert.Equal("a", root.GetProperty("metadata").GetProperty("labels").GetProperty("team").GetString());
        var tag = root.GetProperty("spec").GetProperty("tags")[0];
        Assert.Equal("prod", tag.GetProperty("name").GetString());
        Assert.Equal("app:missing", tag.GetProperty("from").GetProperty("name").GetString());
        Assert.Equal(root.GetProperty("metadata").GetProperty("generation").GetInt64(), tag.GetProperty("generation").GetInt64());

        // A missing source adds no image: no status tag.
        Assert.Equal(0, root.GetProperty("status").GetProperty("tags").GetArrayLength());
        using var list = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams");
        Assert.Equal(["app"], list.RootElement.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("metadata").GetProperty("name").GetString()));

        using var again = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreams", body);
        await again.AssertStatusAsync(HttpStatusCode.Conflict, "AlreadyExists");

        // prod tracks app:missing, a tag of the same stream: once that is pushed, prod follows.
        var pushed = await ImageApi.PushAsync(host.Client, $"{ns}/app", "missing", "c1");
        Assert.Equal(pushed, (await host.Client.GetManifestAsync($"{ns}/app", "prod")).Digest);
    }

    [Fact]
    public async Task AChangedSpecTagResolvesAtOnceWithAHistoryEntryAndTheStreamGeneration()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var v1 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "g1");
        var v2 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v2", "g2");
        var path = $"{V1}/namespaces/{ns}/imagestreams/app";
        var version = await SpecStreams.VersionAsync(host.Client, path);

        using (var put = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, path, SpecStreams.Stream("app", version, tags: [SpecStreams.Tag("prod", "ImageStreamImage", $"app@{v1}")])))
        {
            var stream = await put.JsonAsync(HttpStatusCode.OK);
            var generation = stream.GetProperty("metadata").GetProperty("generation").GetInt64();
            Assert.Equal(generation, stream.GetProperty("spec").GetProperty("tags")[0].GetProperty("generation").GetInt64());
        }

        Assert.Equal(v1, (await host.Client.GetManifestAsync($"{ns}/app", "prod")).Digest);
        Assert.Contains("prod", await host.Client.ListTagsAsync($"{ns}/app"));

        // The same PUT with the version it read is stale now.
        using (var stale = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, path, SpecStreams.Stream("app", version, tags: [SpecStreams.Tag("prod", "ImageStreamImage", $"app@{v2}")])))
        {
            await stale.AssertStatusAsync(HttpStatusCode.Conflict, "Conflict");
        }

        Assert.Equal(v1, (await host.Client.GetManifestAsync($"{ns}/app", "prod")).Digest);

        // Changing the tag again (a rollback forward) prepends another entry; an unchanged PUT changes nothing.
        var now = await SpecStreams.VersionAsync(host.Client, path);
        using (var moved = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, path, SpecStreams.Stream("app", now, tags: [SpecStreams.Tag("prod", "ImageStreamImage", $"app@{v2}")])))
        {
            var stream = await moved.JsonAsync(HttpStatusCode.OK);
            var prod = stream.GetProperty("status").GetProperty("tags").EnumerateArray().Single(t => t.GetProperty("tag").GetString() == "prod");
            Assert.Equal([v2, v1], prod.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("image").GetString()));
            now = stream.GetProperty("metadata").GetProperty("resourceVersion").GetString()!;
        }

        using (var same = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, path, SpecStreams.Stream("app", now, tags: [SpecStreams.Tag("prod", "ImageStreamImage", $"app@{v2}")])))
        {
            var stream = await same.JsonAsync(HttpStatusCode.OK);
            Assert.Equal(now, stream.GetProperty("metadata").GetProperty("resourceVersion").GetString());
        }

        // The ImageStreamTag shows its spec; removing the spec tag from the stream keeps the status tag.
        using (var istag = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreamtags/app:prod"))
        {
            Assert.Equal($"app@{v2}", istag.RootElement.GetProperty("tag").GetProperty("from").GetProperty("name").GetString());
        }

        using (var removed = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, path, SpecStreams.Stream("app")))
        {
            var stream = await removed.JsonAsync(HttpStatusCode.OK);
            Assert.Equal(0, stream.GetProperty("spec").GetProperty("tags").GetArrayLength());
        }

        Assert.Equal(v2, (await host.Client.GetManifestAsync($"{ns}/app", "prod")).Digest);
        using (var istag = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreamtags/app:prod"))
        {
            Assert.False(istag.RootElement.TryGetProperty("tag", out var spec) && spec.ValueKind != JsonValueKind.Null);
        }
    }

    [Fact]
    public async Task TrackingTagsFollowTheirSourceTransitivelyOnPushMappingAndTagUpdate()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var repository = $"{ns}/app";
        var v1 = await ImageApi.PushAsync(host.Client, repository, "src", "t1");
        var path = $"{V1}/namespaces/{ns}/imagestreams/app";

        // b follows a, which follows src: both take src's image at once.
        using (var put = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, path, SpecStreams.Stream("app", tags: [SpecStreams.Tag("b", "ImageStreamTag", "a"), SpecStreams.Tag("a", "ImageStreamTag", "app:src")])))
        {
            await put.JsonAsync(HttpStatusCode.OK);
        }

        Assert.Equal(v1, (await host.Client.GetManifestAsync(repository, "a")).Digest);
        Assert.Equal(v1, (await host.Client.GetManifestAsync(repository, "b")).Digest);

        // A push by tag to src moves a and b in the same change.
        var v2 = await ImageApi.PushAsync(host.Client, repository, "src", "t2");
        Assert.Equal(v2, (await host.Client.GetManifestAsync(repository, "a")).Digest);
        Assert.Equal(v2, (await host.Client.GetManifestAsync(repository, "b")).Digest);

        // A mapping, and an ImageStreamTag update, of src move them too.
        using (var mapped = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreammappings", ImageApiMapping.Body("app", v1, "src")))
        {
            Assert.Equal(HttpStatusCode.Created, mapped.StatusCode);
        }

        Assert.Equal(v1, (await host.Client.GetManifestAsync(repository, "b")).Digest);
        using (var updated = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, $"{V1}/namespaces/{ns}/imagestreamtags/app:src", ImageApiWrite.Tag("app:src", "ImageStreamImage", $"app@{v2}")))
        {
            await updated.JsonAsync(HttpStatusCode.OK);
        }

        Assert.Equal(v2, (await host.Client.GetManifestAsync(repository, "b")).Digest);

        // Each move is a history entry of the tracking tag, newest first.
        using var stream = await ImageApi.GetJsonAsync(host.Client, path);
        var b = stream.RootElement.GetProperty("status").GetProperty("tags").EnumerateArray().Single(t => t.GetProperty("tag").GetString() == "b");
        Assert.Equal([v2, v1, v2, v1], b.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("image").GetString()));

        // An ImageStreamTag of the same stream created from a tag (oc tag --alias) tracks it as well.
        using (var alias = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreamtags", ImageApiWrite.Tag("app:alias", "ImageStreamTag", "app:src")))
        {
            await alias.JsonAsync(HttpStatusCode.Created);
        }

        var v3 = await ImageApi.PushAsync(host.Client, repository, "src", "t3");
        Assert.Equal(v3, (await host.Client.GetManifestAsync(repository, "alias")).Digest);
        Assert.Equal(v3, (await host.Client.GetManifestAsync(repository, "b")).Digest);

        // A tag from another stream is resolved once: it does not follow.
        var other = await ImageApi.PushAsync(host.Client, $"{ns}/other", "v1", "t4");
        using (var put = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, path, SpecStreams.Stream("app", tags: [SpecStreams.Tag("copy", "ImageStreamTag", "other:v1")])))
        {
            await put.JsonAsync(HttpStatusCode.OK);
        }

        Assert.Equal(other, (await host.Client.GetManifestAsync(repository, "copy")).Digest);
        await ImageApi.PushAsync(host.Client, $"{ns}/other", "v1", "t5");
        Assert.Equal(other, (await host.Client.GetManifestAsync(repository, "copy")).Digest);
    }

    [Fact]
    public async Task CyclesAndBadSpecsAreInvalidAndStoreNothing()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var v1 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "b1");
        var path = $"{V1}/namespaces/{ns}/imagestreams/app";
        using var before = await ImageApi.GetJsonAsync(host.Client, path);

        async Task Refused(HttpMethod method, string target, string body, HttpStatusCode code, string reason, string? says = null)
        {
            using var response = await ImageApiWrite.SendAsync(host.Client, method, target, body);
            var status = await response.JsonAsync(code);
            Assert.Equal(reason, status.GetProperty("reason").GetString());
            if (says is not null)
            {
                Assert.Contains(says, status.GetProperty("message").GetString(), StringComparison.Ordinal);
            }
        }

        await Refused(HttpMethod.Put, path, SpecStreams.Stream("app", tags: [SpecStreams.Tag("a", "ImageStreamTag", "b"), SpecStreams.Tag("b", "ImageStreamTag", "app:a")]), (HttpStatusCode)422, "Invalid", "a -> b -> a");
        await Refused(HttpMethod.Put, path, SpecStreams.Stream("app", tags: [SpecStreams.Tag("a", "ImageStreamTag", "a")]), (HttpStatusCode)422, "Invalid", "a -> a");
        await Refused(HttpMethod.Put, path, SpecStreams.Stream("app", tags: [SpecStreams.Tag("-bad", "ImageStreamTag", "v1")]), (HttpStatusCode)422, "Invalid", "spec.tags[0].name");
        await Refused(HttpMethod.Put, path, SpecStreams.Stream("app", tags: [SpecStreams.Tag("x", "Pod", "v1")]), (HttpStatusCode)422, "Invalid", "from.kind");
        await Refused(HttpMethod.Put, path, SpecStreams.Stream("app", tags: [SpecStreams.Tag("x", "ImageStreamImage", "app@zzz")]), (HttpStatusCode)422, "Invalid", "from.name");
        await Refused(HttpMethod.Put, path, SpecStreams.Stream("app", tags: [SpecStreams.Tag("x", "ImageStreamTag", "v1"), SpecStreams.Tag("x", "ImageStreamTag", "v1")]), (HttpStatusCode)422, "Invalid", "Duplicate");
        await Refused(HttpMethod.Put, path, SpecStreams.Stream("app").Replace("\"ImageStream\"", "\"ImageStreamTag\"", StringComparison.Ordinal), (HttpStatusCode)422, "Invalid", "kind");
        await Refused(HttpMethod.Put, path, SpecStreams.Stream("app").Replace("image.openshift.io/v1", "image.openshift.io/v2", StringComparison.Ordinal), (HttpStatusCode)422, "Invalid", "apiVersion");
        await Refused(HttpMethod.Put, path, SpecStreams.Stream("other"), HttpStatusCode.BadRequest, "BadRequest", "does not match");
        await Refused(HttpMethod.Put, $"{V1}/namespaces/{ns}/imagestreams/Bad~~", SpecStreams.Stream("Bad~~"), HttpStatusCode.BadRequest, "BadRequest");
        await Refused(HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreams", SpecStreams.Stream("UPPER"), (HttpStatusCode)422, "Invalid", "metadata.name");
        await Refused(HttpMethod.Put, path, SpecStreams.Stream("app", annotations: new() { ["pad"] = new string('x', 65 * 1024) }), HttpStatusCode.RequestEntityTooLarge, "RequestEntityTooLarge");
        await Refused(HttpMethod.Put, $"{V1}/namespaces/{ns}/imagestreams/nothing", SpecStreams.Stream("nothing"), HttpStatusCode.NotFound, "NotFound");
        await Refused(HttpMethod.Put, path, SpecStreams.Stream("app", "1"), HttpStatusCode.Conflict, "Conflict");

        // A tag update that would close a cycle with the stored spec is refused too.
        using (var put = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, path, SpecStreams.Stream("app", tags: [SpecStreams.Tag("a", "ImageStreamTag", "v1")])))
        {
            await put.JsonAsync(HttpStatusCode.OK);
        }

        await Refused(HttpMethod.Put, $"{V1}/namespaces/{ns}/imagestreamtags/app:v1", ImageApiWrite.Tag("app:v1", "ImageStreamTag", "app:a"), (HttpStatusCode)422, "Invalid", "a -> v1 -> a");
        Assert.Equal(v1, (await host.Client.GetManifestAsync($"{ns}/app", "v1")).Digest);

        using var after = await ImageApi.GetJsonAsync(host.Client, path);
        Assert.Equal(before.RootElement.GetProperty("status").GetProperty("tags")[0].GetRawText(), after.RootElement.GetProperty("status").GetProperty("tags").EnumerateArray().Single(t => t.GetProperty("tag").GetString() == "v1").GetRawText());
        Assert.Equal(["a"], after.RootElement.GetProperty("spec").GetProperty("tags").EnumerateArray().Select(t => t.GetProperty("name").GetString()));
        using var nothing = await host.Client.GetAsync($"{V1}/namespaces/{ns}/imagestreams/nothing");
        Assert.Equal(HttpStatusCode.NotFound, nothing.StatusCode);
    }

    [Fact]
    public async Task MergeStrategicAndJsonPatchesChangeSpecTags()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var v1 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "p1");
        var v2 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v2", "p2");
        var path = $"{V1}/namespaces/{ns}/imagestreams/app";

        // A strategic merge patch merges spec.tags by name: prod is added, the rest kept.
        using (var put = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, path, SpecStreams.Stream("app", tags: [SpecStreams.Tag("keep", "ImageStreamTag", "v1")])))
        {
            await put.JsonAsync(HttpStatusCode.OK);
        }

        using (var strategic = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Patch, path, "{\"spec\":{\"$setElementOrder/tags\":[{\"name\":\"prod\"},{\"name\":\"keep\"}],\"tags\":[{\"name\":\"prod\",\"from\":{\"kind\":\"ImageStreamTag\",\"name\":\"v2\"}}]}}", "application/strategic-merge-patch+json"))
        {
            var stream = await strategic.JsonAsync(HttpStatusCode.OK);
            Assert.Equal(["prod", "keep"], stream.GetProperty("spec").GetProperty("tags").EnumerateArray().Select(t => t.GetProperty("name").GetString()));
        }

        Assert.Equal(v2, (await host.Client.GetManifestAsync($"{ns}/app", "prod")).Digest);

        // An element's from merges into the stored one (kind kept); $patch: delete removes keep.
        using (var strategic = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Patch, path, "{\"spec\":{\"tags\":[{\"name\":\"prod\",\"from\":{\"name\":\"v1\"}},{\"name\":\"keep\",\"$patch\":\"delete\"}]}}", "application/strategic-merge-patch+json"))
        {
            var stream = await strategic.JsonAsync(HttpStatusCode.OK);
            Assert.Equal(["prod"], stream.GetProperty("spec").GetProperty("tags").EnumerateArray().Select(t => t.GetProperty("name").GetString()));
        }

        Assert.Equal(v1, (await host.Client.GetManifestAsync($"{ns}/app", "prod")).Digest);

        // A merge patch replaces the list; a JSON patch edits it in place, also of an ImageStreamTag.
        using (var merge = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Patch, path, "{\"metadata\":{\"labels\":{\"tier\":\"web\"}},\"spec\":{\"tags\":[{\"name\":\"prod\",\"from\":{\"kind\":\"ImageStreamImage\",\"name\":\"app@" + v2 + "\"}}]}}", "application/merge-patch+json"))
        {
            var stream = await merge.JsonAsync(HttpStatusCode.OK);
            Assert.Equal("web", stream.GetProperty("metadata").GetProperty("labels").GetProperty("tier").GetString());
        }

        Assert.Equal(v2, (await host.Client.GetManifestAsync($"{ns}/app", "prod")).Digest);
        using (var json = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Patch, path, "[{\"op\":\"test\",\"path\":\"/spec/tags/0/name\",\"value\":\"prod\"},{\"op\":\"replace\",\"path\":\"/spec/tags/0/from/name\",\"value\":\"app@" + v1 + "\"}]", "application/json-patch+json"))
        {
            await json.JsonAsync(HttpStatusCode.OK);
        }

        Assert.Equal(v1, (await host.Client.GetManifestAsync($"{ns}/app", "prod")).Digest);
        using (var tagPatch = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Patch, $"{V1}/namespaces/{ns}/imagestreamtags/app:prod", "[{\"op\":\"replace\",\"path\":\"/tag/from/name\",\"value\":\"app@" + v2 + "\"}]", "application/json-patch+json"))
        {
            await tagPatch.JsonAsync(HttpStatusCode.OK);
        }

        Assert.Equal(v2, (await host.Client.GetManifestAsync($"{ns}/app", "prod")).Digest);

        // A failed test, a bad pointer and an unknown directive store nothing.
        using var before = await ImageApi.GetJsonAsync(host.Client, path);
        foreach (var (body, type) in new[]
        {
            ("[{\"op\":\"test\",\"path\":\"/spec/tags/0/name\",\"value\":\"other\"},{\"op\":\"remove\",\"path\":\"/spec/tags/0\"}]", "application/json-patch+json"),
            ("[{\"op\":\"remove\",\"path\":\"/spec/tags/7\"}]", "application/json-patch+json"),
            ("{\"spec\":{\"$retainKeys\":[\"tags\"]}}", "application/strategic-merge-patch+json"),
        })
        {
            using var refused = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Patch, path, body, type);
            await refused.AssertStatusAsync((HttpStatusCode)422, "Invalid");
        }

        using var after = await ImageApi.GetJsonAsync(host.Client, path);
        Assert.Equal(before.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString(), after.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString());
    }

    [Fact]
    public async Task AProtectedTrackingTagStaysWhileItsSourceMovesAndAnExplicitMoveIsRefused()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var repository = $"{ns}/app";
        var v1 = await ImageApi.PushAsync(host.Client, repository, "src", "i1");
        var path = $"{V1}/namespaces/{ns}/imagestreams/app";
        using (var put = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, path, SpecStreams.Stream("app", tags: [SpecStreams.Tag("release", "ImageStreamTag", "src"), SpecStreams.Tag("follow", "ImageStreamTag", "release"), SpecStreams.Tag("edge", "ImageStreamTag", "src")])))
        {
            await put.JsonAsync(HttpStatusCode.OK);
        }

        await ImmutableTagTests.PutRulesAsync(host.Client, ns, ImmutableTagTests.Rule("releases", "**", "release"));

        // The push of the source is accepted; the protected tracking tag keeps its image, and so does the tag tracking it.
        var v2 = await ImageApi.PushAsync(host.Client, repository, "src", "i2");
        Assert.Equal(v2, (await host.Client.GetManifestAsync(repository, "edge")).Digest);
        Assert.Equal(v1, (await host.Client.GetManifestAsync(repository, "release")).Digest);
        Assert.Equal(v1, (await host.Client.GetManifestAsync(repository, "follow")).Digest);

        // Pointing the protected tag elsewhere in the spec is refused as an ImageStreamTag move is, and stores nothing.
        var version = await SpecStreams.VersionAsync(host.Client, path);
        using (var moved = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, path, SpecStreams.Stream("app", tags: [SpecStreams.Tag("release", "ImageStreamImage", $"app@{v2}")])))
        {
            var status = await moved.JsonAsync(HttpStatusCode.Conflict);
            Assert.Equal("ImmutableTag", status.GetProperty("details").GetProperty("causes")[0].GetProperty("reason").GetString());
        }

        Assert.Equal(v1, (await host.Client.GetManifestAsync(repository, "release")).Digest);
        Assert.Equal(version, await SpecStreams.VersionAsync(host.Client, path));
    }

    [Fact]
    public async Task DeletingAnImageStreamTagRemovesItsSpecAndStatus()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "d1");
        var path = $"{V1}/namespaces/{ns}/imagestreams/app";
        using (var put = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, path, SpecStreams.Stream("app", tags: [SpecStreams.Tag("prod", "ImageStreamTag", "v1"), SpecStreams.Tag("later", "ImageStreamTag", "nothing")])))
        {
            await put.JsonAsync(HttpStatusCode.OK);
        }

        using (var deleted = await host.Client.DeleteAsync($"{V1}/namespaces/{ns}/imagestreamtags/app:prod"))
        {
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        }

        // A spec tag without an image is deleted too.
        using (var deleted = await host.Client.DeleteAsync($"{V1}/namespaces/{ns}/imagestreamtags/app:later"))
        {
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        }

        using var stream = await ImageApi.GetJsonAsync(host.Client, path);
        Assert.Equal(0, stream.RootElement.GetProperty("spec").GetProperty("tags").GetArrayLength());
        Assert.Equal(["v1"], await host.Client.ListTagsAsync($"{ns}/app"));

        // Deleting the stream takes its spec: a stream created again starts without it.
        using (var gone = await host.Client.DeleteAsync(path))
        {
            Assert.Equal(HttpStatusCode.OK, gone.StatusCode);
        }

        using (var created = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreams", SpecStreams.Stream("app")))
        {
            var fresh = await created.JsonAsync(HttpStatusCode.Created);
            Assert.Equal(0, fresh.GetProperty("spec").GetProperty("tags").GetArrayLength());
        }

        using (var gone = await host.Client.DeleteAsync(path))
        {
            Assert.Equal(HttpStatusCode.OK, gone.StatusCode);
        }

        using var missing = await host.Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task AnImageStreamTagKeepsItsWholeTagReference()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var pushed = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "c1");
        var body = "{\"kind\":\"ImageStreamTag\",\"apiVersion\":\"image.openshift.io/v1\",\"metadata\":{\"name\":\"app:prod\"},\"tag\":{\"from\":{\"kind\":\"ImageStreamTag\",\"name\":\"v1\"},"
            + "\"annotations\":{\"owner\":\"ops\"},\"reference\":true,\"importPolicy\":{\"importMode\":\"PreserveOriginal\"},\"referencePolicy\":{\"type\":\"Local\"}}}";
        using (var created = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreamtags", body))
        {
            await created.JsonAsync(HttpStatusCode.Created);
        }

        using var read = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreamtags/app:prod");
        var tag = read.RootElement.GetProperty("tag");
        Assert.Equal("prod", tag.GetProperty("name").GetString());
        Assert.Equal("ops", tag.GetProperty("annotations").GetProperty("owner").GetString());
        Assert.True(tag.GetProperty("reference").GetBoolean());
        Assert.Equal("PreserveOriginal", tag.GetProperty("importPolicy").GetProperty("importMode").GetString());
        Assert.Equal("Local", tag.GetProperty("referencePolicy").GetProperty("type").GetString());
        Assert.Equal(pushed, (await host.Client.GetManifestAsync($"{ns}/app", "prod")).Digest);

        // A bad field of the TagReference is refused with its name, and nothing changes.
        var bad = body.Replace("\"Local\"", "\"Elsewhere\"", StringComparison.Ordinal).Replace("app:prod", "app:qa", StringComparison.Ordinal);
        using var refused = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreamtags", bad);
        await refused.AssertStatusAsync(HttpStatusCode.UnprocessableEntity, "Invalid");
        using var tags = await host.Client.GetAsync($"/v2/{ns}/app/tags/list");
        Assert.DoesNotContain("qa", await tags.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConcurrentPatchesOfAStreamAllLand()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        using (var created = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreams", SpecStreams.Stream("app")))
        {
            await created.JsonAsync(HttpStatusCode.Created);
        }

        // Each patch reads the stream and writes it back; one that lost the race is applied again to the new stream.
        const int patches = 8;
        var path = $"{V1}/namespaces/{ns}/imagestreams/app";
        var answers = await Task.WhenAll(Enumerable.Range(0, patches).Select(async i =>
        {
            using var patched = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Patch, path, $"{{\"metadata\":{{\"labels\":{{\"p{i}\":\"x\"}}}}}}", "application/merge-patch+json");
            return patched.StatusCode;
        }));
        Assert.All(answers, status => Assert.Equal(HttpStatusCode.OK, status));

        using var read = await ImageApi.GetJsonAsync(host.Client, path);
        var labels = read.RootElement.GetProperty("metadata").GetProperty("labels");
        Assert.Equal(Enumerable.Range(0, patches).Select(i => $"p{i}").Order(), labels.EnumerateObject().Select(l => l.Name).Order());

        // A resourceVersion in the patch is the caller's own precondition: stale, it is refused, not retried.
        using var stale = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Patch, path, "{\"metadata\":{\"resourceVersion\":\"1\",\"labels\":{\"late\":\"x\"}}}", "application/merge-patch+json");
        await stale.AssertStatusAsync(HttpStatusCode.Conflict, "Conflict");
    }
}

/// <summary>ImageStream bodies for the spec tag tests.</summary>
public static class SpecStreams
{
    public static JsonObject Tag(string name, string kind, string from, string? fromNamespace = null)
    {
        var source = new JsonObject { ["kind"] = kind, ["name"] = from };
        if (fromNamespace is not null)
        {
            source["namespace"] = fromNamespace;
        }

        return new JsonObject { ["name"] = name, ["from"] = source };
    }

    public static string Stream(string name, string? resourceVersion = null, Dictionary<string, string>? annotations = null, Dictionary<string, string>? labels = null, JsonObject[]? tags = null)
    {
        var metadata = new JsonObject { ["name"] = name };
        if (resourceVersion is not null)
        {
            metadata["resourceVersion"] = resourceVersion;
        }

        if (annotations is not null)
        {
            metadata["annotations"] = JsonSerializer.SerializeToNode(annotations);
        }

        if (labels is not null)
        {
            metadata["labels"] = JsonSerializer.SerializeToNode(labels);
        }

        var body = new JsonObject
        {
            ["kind"] = "ImageStream",
            ["apiVersion"] = "image.openshift.io/v1",
            ["metadata"] = metadata,
            ["spec"] = new JsonObject { ["tags"] = new JsonArray((tags ?? []).Select(t => (JsonNode)t.DeepClone()).ToArray()) },
        };
        return body.ToJsonString();
    }

    public static async Task<string> VersionAsync(HttpClient client, string path)
    {
        using var read = await ImageApi.GetJsonAsync(client, path);
        return read.RootElement.GetProperty("metadata").GetProperty("resourceVersion").GetString()!;
    }
}
