using Registry.Grains;

namespace Registry.Tests;

/// <summary>The repository's rules for the image API's writes (<see cref="RepositoryTagging"/>), without a grain around them.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class RepositoryTaggingTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 5, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void ATagMoveIsRefusedWhenStaleThenForAnUnknownManifestThenForAnExistingTag()
    {
        var state = new RepositoryState { EventSequence = 7 };
        state.AddManifest(Manifest("sha256:1"));
        state.AddManifest(Manifest("sha256:2"));
        state.MoveTag("v1", "sha256:1", At, historyLimit: 10);

        Assert.Equal(TagMoveOutcome.Stale, state.Refusal(new TagMove("v1", "sha256:x", MustCreate: true, MayMove: false, ExpectedSequence: 6)));
        Assert.Equal(TagMoveOutcome.ManifestUnknown, state.Refusal(new TagMove("v1", "sha256:x", true, false, 7)));
        Assert.Equal(TagMoveOutcome.TagExists, state.Refusal(new TagMove("v1", "sha256:1", true, true, null)));
        Assert.Equal(TagMoveOutcome.NeedsOverwrite, state.Refusal(new TagMove("v1", "sha256:2", false, false, null)));
        Assert.Null(state.Refusal(new TagMove("v1", "sha256:1", false, false, 7)));
        Assert.Null(state.Refusal(new TagMove("v1", "sha256:2", false, true, null)));
        Assert.Null(state.Refusal(new TagMove("v2", "sha256:2", true, false, null)));
    }

    [Fact]
    public void RemovingAStreamRemovesTagsThenManifestsThenBlobsEachWithItsOwnGeneration()
    {
        var state = new RepositoryState { Blobs = { ["sha256:b"] = 5 } };
        state.AddManifest(Manifest("sha256:1"));
        state.MoveTag("v1", "sha256:1", At, historyLimit: 10);
        var removed = new List<(string? MediaType, string Digest, long Size, string? Tag, long Generation)>();

        state.RemoveStream((mediaType, digest, size, tag) => removed.Add((mediaType, digest, size, tag, state.Generation)));

        Assert.True(state.IsEmpty);
        Assert.Equal(
            [
                ("application/vnd.oci.image.manifest.v1+json", "sha256:1", 100L, "v1", 2L),
                ("application/vnd.oci.image.manifest.v1+json", "sha256:1", 100L, null, 3L),
                (RepositoryTagging.BlobMediaType, "sha256:b", 5L, null, 3L),
            ],
            removed);
    }

    private static ManifestDescriptor Manifest(string digest)
        => new(digest, "application/vnd.oci.image.manifest.v1+json", 100, null, null, null, At);
}
