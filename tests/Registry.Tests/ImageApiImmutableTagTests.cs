using System.Net;
using Registry.Grains;
using static Registry.Tests.ImmutableTagTests;

namespace Registry.Tests;

/// <summary>
/// Immutable tag rules hold for the image API's tag writes as for pushes (docs/immutable-tags.md):
/// an ImageStreamTag update may not move a protected tag, its delete and the delete of a stream
/// that holds one are refused with 409 <c>Conflict</c> naming the rule, and a refusal changes nothing.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ImageApiImmutableTagTests
{
    private const string V1 = "/apis/image.openshift.io/v1";

    [Fact]
    public async Task ProtectedTagsAreNeitherMovedNorDeletedNorTheirStreamUntilTheRuleGoes()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var repository = $"{ns}/app";
        var v1 = await ImageApi.PushAsync(host.Client, repository, "v1", "m1");
        var other = await ImageApi.PushAsync(host.Client, repository, "other", "m2");
        var version = await PutRulesAsync(host.Client, ns, Rule("releases", "**", "v*"));
        var tags = $"{V1}/namespaces/{ns}/imagestreamtags";

        // Moving v1 to another image is refused; /v2 still serves the old digest.
        using (var moved = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, $"{tags}/app:v1", ImageApiWrite.Tag("app:v1", "ImageStreamTag", "app:other")))
        {
            await AssertRefusedAsync(moved, "releases", $"{repository}:v1", "app:v1", "imagestreamtags");
        }

        // A mapping (the push path's own operation) may not move it either.
        using (var mapped = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreammappings", ImageApiMapping.Body("app", other, "v1")))
        {
            await AssertRefusedAsync(mapped, "releases", $"{repository}:v1", "app", "imagestreams");
        }

        Assert.Equal(v1, (await host.Client.GetManifestAsync(repository, "v1")).Digest);

        // Pointing it at the image it has changes nothing and is allowed; a new protected tag may be created.
        using (var same = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, $"{tags}/app:v1", ImageApiWrite.Tag("app:v1", "ImageStreamImage", $"app@{v1}")))
        {
            await same.JsonAsync(HttpStatusCode.OK);
        }

        using (var created = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, tags, ImageApiWrite.Tag("app:v2", "ImageStreamTag", "app:other")))
        {
            await created.JsonAsync(HttpStatusCode.Created);
        }

        Assert.Equal(other, (await host.Client.GetManifestAsync(repository, "v2")).Digest);

        // Once created, v2 is protected too: the move back is refused.
        using (var movedV2 = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, $"{tags}/app:v2", ImageApiWrite.Tag("app:v2", "ImageStreamImage", $"app@{v1}")))
        {
            await AssertRefusedAsync(movedV2, "releases", $"{repository}:v2", "app:v2", "imagestreamtags");
        }

        using (var deleteTag = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Delete, $"{tags}/app:v1", ""))
        {
            await AssertRefusedAsync(deleteTag, "releases", $"{repository}:v1", "app:v1", "imagestreamtags");
        }

        // The stream holds protected tags: refused, and nothing of it removed (the first protected tag in order is named).
        using (var deleteStream = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Delete, $"{V1}/namespaces/{ns}/imagestreams/app", ""))
        {
            await AssertRefusedAsync(deleteStream, "releases", $"{repository}:v1", "app", "imagestreams");
        }

        Assert.Equal(["other", "v1", "v2"], (await host.Client.ListTagsAsync(repository)).Order(StringComparer.Ordinal));
        Assert.Equal(v1, (await host.Client.GetManifestAsync(repository, "v1")).Digest);
        Assert.Equal(other, (await host.Client.GetManifestAsync(repository, other)).Digest);

        // An unprotected tag of the same stream still moves and goes.
        using (var movedOther = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, $"{tags}/app:other", ImageApiWrite.Tag("app:other", "ImageStreamImage", $"app@{v1}")))
        {
            await movedOther.JsonAsync(HttpStatusCode.OK);
        }

        // Without the rule, all three succeed.
        using (var deleted = await ApiAsync(host.Client, HttpMethod.Delete, $"/namespaces/{ns}/immutabletagrules?resourceVersion={version}"))
        {
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        }

        using (var movedFree = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, $"{tags}/app:v1", ImageApiWrite.Tag("app:v1", "ImageStreamTag", "app:v2")))
        {
            await movedFree.JsonAsync(HttpStatusCode.OK);
        }

        Assert.Equal(other, (await host.Client.GetManifestAsync(repository, "v1")).Digest);
        using (var deleteTagFree = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Delete, $"{tags}/app:v1", ""))
        {
            await deleteTagFree.JsonAsync(HttpStatusCode.OK);
        }

        using (var deleteStreamFree = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Delete, $"{V1}/namespaces/{ns}/imagestreams/app", ""))
        {
            await deleteStreamFree.JsonAsync(HttpStatusCode.OK);
        }

        await ImageApi.AssertStatusAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app", 404, "NotFound");
    }

    [Fact]
    public async Task AMoveFromAnotherNamespaceIsRefusedBeforeTheImageIsCopied()
    {
        var host = await SharedRegistry.GetAsync();
        var source = ImageApi.Namespace();
        var target = ImageApi.Namespace();
        var foreign = await ImageApi.PushAsync(host.Client, $"{source}/app", "v1", "f1");
        var kept = await ImageApi.PushAsync(host.Client, $"{target}/web", "v1", "k1");
        await PutRulesAsync(host.Client, target, Rule("web-releases", "web", "v*"));

        using (var moved = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, $"{V1}/namespaces/{target}/imagestreamtags/web:v1", ImageApiWrite.Tag("web:v1", "ImageStreamTag", "app:v1", source)))
        {
            await AssertRefusedAsync(moved, "web-releases", $"{target}/web:v1", "web:v1", "imagestreamtags");
        }

        Assert.Equal(kept, (await host.Client.GetManifestAsync($"{target}/web", "v1")).Digest);
        using var copied = await host.Client.GetAsync($"/v2/{target}/web/manifests/{foreign}");
        Assert.Equal(HttpStatusCode.NotFound, copied.StatusCode);

        // A repository the rule's glob does not match is free.
        using var elsewhere = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, $"{V1}/namespaces/{target}/imagestreamtags", ImageApiWrite.Tag("api:v1", "ImageStreamTag", "app:v1", source));
        await elsewhere.JsonAsync(HttpStatusCode.Created);
        using var again = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, $"{V1}/namespaces/{target}/imagestreamtags/api:v1", ImageApiWrite.Tag("api:v1", "ImageStreamTag", "web:v1"));
        await again.JsonAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task TheGrainDecidesInItsTurnWithTheRulesItIsGiven()
    {
        // What the HTTP pre-check would catch, asked of the grain directly: the decision that holds under concurrency.
        var host = await SharedRegistry.GetAsync();
        var repository = $"{ImageApi.Namespace()}/app";
        var one = await ImageApi.PushAsync(host.Client, repository, "v1", "g1");
        var two = await ImageApi.PushAsync(host.Client, repository, "beta", "g2");
        var grain = host.Service<IGrainFactory>().GetGrain<IRepositoryGrain>(repository);
        IReadOnlyList<ImmutableTagRule> rules = [new("other", "**", "x*"), new("releases", "**", "v*")];

        var refused = await grain.TagManifest(new TagMove("v1", two, MustCreate: false, MayMove: true, ExpectedSequence: null, rules));
        Assert.Equal(TagMoveOutcome.Immutable, refused.Outcome);
        Assert.Equal("releases", refused.Rule);
        Assert.Equal(one, (await grain.ResolveTag("v1"))!.Digest);
        Assert.Equal(TagMoveOutcome.Moved, (await grain.TagManifest(new TagMove("v1", one, false, true, null, rules))).Outcome);
        Assert.Equal(TagMoveOutcome.Moved, (await grain.TagManifest(new TagMove("v9", two, true, false, null, rules))).Outcome);
        Assert.Equal(TagMoveOutcome.Moved, (await grain.TagManifest(new TagMove("beta", one, false, true, null, rules))).Outcome);

        var stream = await grain.DeleteImageStream(rules);
        Assert.Equal((false, "releases", "v1"), (stream.Deleted, stream.Rule, stream.Tag));
        Assert.Equal(["beta", "v1", "v9"], (await host.Client.ListTagsAsync(repository)).Order(StringComparer.Ordinal));
        Assert.True((await grain.DeleteImageStream([])).Deleted);
        Assert.False((await grain.DeleteImageStream([])).Deleted);
    }

    /// <summary>A Kubernetes Status 409 <c>Conflict</c> whose message and cause name the rule and the tag, and whose details name the object.</summary>
    private static async Task AssertRefusedAsync(HttpResponseMessage response, string rule, string reference, string name, string kind)
    {
        var status = await response.JsonAsync(HttpStatusCode.Conflict);
        Assert.Equal("Status", status.GetProperty("kind").GetString());
        Assert.Equal("Failure", status.GetProperty("status").GetString());
        Assert.Equal("Conflict", status.GetProperty("reason").GetString());
        Assert.Equal(409, status.GetProperty("code").GetInt32());
        var message = status.GetProperty("message").GetString()!;
        Assert.Contains($"'{rule}'", message, StringComparison.Ordinal);
        Assert.Contains($"'{reference}'", message, StringComparison.Ordinal);

        var details = status.GetProperty("details");
        Assert.Equal(name, details.GetProperty("name").GetString());
        Assert.Equal("image.openshift.io", details.GetProperty("group").GetString());
        Assert.Equal(kind, details.GetProperty("kind").GetString());
        var cause = Assert.Single(details.GetProperty("causes").EnumerateArray());
        Assert.Equal("ImmutableTag", cause.GetProperty("reason").GetString());
        Assert.Contains($"'{rule}'", cause.GetProperty("message").GetString()!, StringComparison.Ordinal);
    }
}
