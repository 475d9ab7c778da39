using Registry.Grains;

namespace Registry.Tests;

/// <summary>The rules a repository applies to its own state, without a grain around them.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class RepositoryStateTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 4, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void AManifestIsRefusedForTheFirstBlobOrChildTheRepositoryLacks()
    {
        var state = new RepositoryState { Blobs = { ["sha256:a"] = 1 } };
        state.AddManifest(Manifest("sha256:child"));

        Assert.Null(state.Refusal(Push("sha256:m", ["sha256:a"], ["sha256:child"])));
        Assert.Equal(new ManifestPushResult(ManifestPushOutcome.BlobUnknown, "sha256:b", 0), state.Refusal(Push("sha256:m", ["sha256:a", "sha256:b"], ["sha256:x"])));
        Assert.Equal(new ManifestPushResult(ManifestPushOutcome.ManifestUnknown, "sha256:x", 0), state.Refusal(Push("sha256:m", ["sha256:a"], ["sha256:x"])));
    }

    [Fact]
    public void EveryTagWriteIsRecordedWithItsGenerationAndTheHistoryKeepsTheNewest()
    {
        var state = new RepositoryState();

        Assert.True(state.MoveTag("v1", "sha256:1", At, historyLimit: 2));
        Assert.False(state.MoveTag("v1", "sha256:2", At.AddMinutes(1), historyLimit: 2));
        Assert.False(state.MoveTag("v1", "sha256:3", At.AddMinutes(2), historyLimit: 2));

        Assert.Equal("sha256:3", state.Tags["v1"].Digest);
        Assert.Equal(
            [new TagHistoryEntry("sha256:2", At.AddMinutes(1), 2), new TagHistoryEntry("sha256:3", At.AddMinutes(2), 3)],
            state.Tags["v1"].History);
        Assert.Equal(3, state.Generation);
    }

    [Fact]
    public void RemovingAManifestRemovesItsTagsAndItsPlaceAmongTheReferrers()
    {
        var state = new RepositoryState();
        state.AddManifest(Manifest("sha256:subject"));
        state.AddManifest(Manifest("sha256:sig", subject: "sha256:subject", artifactType: "application/x-sig"));
        state.AddManifest(Manifest("sha256:sbom", subject: "sha256:subject", artifactType: "application/x-sbom"));
        state.MoveTag("sig", "sha256:sig", At, historyLimit: 10);
        state.MoveTag("keep", "sha256:subject", At, historyLimit: 10);

        Assert.Equal(["sha256:sbom"], state.ReferrersOf("sha256:subject", "application/x-sbom").Select(r => r.Digest));
        Assert.True(state.RemoveManifest("sha256:sig", out var removed));

        Assert.Equal("sha256:sig", removed.Digest);
        Assert.Equal(["keep"], state.Tags.Keys);
        Assert.Equal(["sha256:sbom"], state.ReferrersOf("sha256:subject", null).Select(r => r.Digest));
        Assert.False(state.RemoveManifest("sha256:sig", out _));
        Assert.True(state.RemoveManifest("sha256:sbom", out _));
        Assert.Empty(state.Referrers);
    }

    private static ManifestDescriptor Manifest(string digest, string? subject = null, string? artifactType = null)
        => new(digest, "application/vnd.oci.image.manifest.v1+json", 100, artifactType, null, subject, At);

    private static ManifestPush Push(string digest, IReadOnlyList<string> blobs, IReadOnlyList<string> children)
        => new(Manifest(digest), blobs, children, "latest");
}
