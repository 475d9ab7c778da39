namespace Registry.Grains;

/// <summary>What a repository knows about one manifest; the bytes live in blob storage.</summary>
[GenerateSerializer, Immutable, Alias("registry.manifest-descriptor")]
public sealed record ManifestDescriptor(
    [property: Id(0)] string Digest,
    [property: Id(1)] string MediaType,
    [property: Id(2)] long Size,
    [property: Id(3)] string? ArtifactType,
    [property: Id(4)] IReadOnlyDictionary<string, string>? Annotations,
    [property: Id(5)] string? Subject,
    [property: Id(6)] DateTimeOffset PushedAt);

/// <summary>
/// A manifest push: the descriptor plus what the manifest references, and the tag it goes under
/// (with <see cref="MoreTags"/>, a push by digest with several <c>?tag=</c>: all tags or none).
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.manifest-push")]
public sealed record ManifestPush(
    [property: Id(0)] ManifestDescriptor Manifest,
    [property: Id(1)] IReadOnlyList<string> Blobs,
    [property: Id(2)] IReadOnlyList<string> ChildManifests,
    [property: Id(3)] string? Tag,
    [property: Id(4)] bool MayMoveTag = true,
    [property: Id(5)] IReadOnlyList<ImmutableTagRule>? ImmutableTagRules = null,
    [property: Id(6)] IReadOnlyList<string>? MoreTags = null)
{
    /// <summary>Every tag the push moves: <see cref="Tag"/>, then <see cref="MoreTags"/>.</summary>
    public IEnumerable<string> AllTags => Tag is null ? [] : [Tag, .. MoreTags ?? []];
}

[GenerateSerializer, Alias("registry.manifest-push-outcome")]
public enum ManifestPushOutcome
{
    Accepted = 0,
    BlobUnknown = 1,
    ManifestUnknown = 2,

    /// <summary>The tag points at another manifest and the push may not move it (<c>Missing</c> names the tag).</summary>
    TagExists = 3,

    /// <summary>The tag points at another manifest and an immutable tag rule protects it (<c>Missing</c> names the tag, <c>Rule</c> the rule).</summary>
    Immutable = 4,

    /// <summary>The manifest's bytes would exceed its namespace's quota (<c>Quota</c> says which limit).</summary>
    QuotaExceeded = 5,
}

[GenerateSerializer, Immutable, Alias("registry.manifest-push-result")]
public sealed record ManifestPushResult(
    [property: Id(0)] ManifestPushOutcome Outcome,
    [property: Id(1)] string? Missing,
    [property: Id(2)] long Generation,
    [property: Id(3)] string? Rule = null,
    [property: Id(4)] QuotaRefusal? Quota = null);

/// <summary>One acknowledged write of a tag: which manifest it pointed at and when.</summary>
[GenerateSerializer, Immutable, Alias("registry.tag-event")]
public sealed record TagHistoryEntry(
    [property: Id(0)] string Digest,
    [property: Id(1)] DateTimeOffset Created,
    [property: Id(2)] long Generation);

[GenerateSerializer, Immutable, Alias("registry.page")]
public sealed record NamePage(
    [property: Id(0)] IReadOnlyList<string> Names,
    [property: Id(1)] bool More);

/// <summary>
/// One page of a repository's tags list, plus the last tag of the page when more follow (for the
/// <c>Link</c> header). <see cref="Stamp"/> is drawn anew whenever the repository's tags change,
/// so the HTTP host renders a page once per stamp, whichever silo the grain lives on.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.tags-page")]
public sealed record TagsListing(
    [property: Id(0)] IReadOnlyList<string> Tags,
    [property: Id(1)] string? NextLast,
    [property: Id(2)] long Stamp);

[GenerateSerializer, Immutable, Alias("registry.referrer")]
public sealed record Referrer(
    [property: Id(0)] string Digest,
    [property: Id(1)] string MediaType,
    [property: Id(2)] long Size,
    [property: Id(3)] string? ArtifactType,
    [property: Id(4)] IReadOnlyDictionary<string, string>? Annotations);

/// <summary>One tag of an image stream: its name and its acknowledged writes, newest first.</summary>
[GenerateSerializer, Immutable, Alias("registry.image-stream-tag")]
public sealed record ImageStreamTagView(
    [property: Id(0)] string Tag,
    [property: Id(1)] IReadOnlyList<TagHistoryEntry> History);

/// <summary>
/// A repository as the image API shows it. <see cref="Sequence"/> grows with every change of the
/// repository (its event sequence), so it serves as the resourceVersion; <see cref="Created"/> is
/// when the repository was first written.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.image-stream-view")]
public sealed record ImageStreamView(
    [property: Id(0)] IReadOnlyList<ImageStreamTagView> Tags,
    [property: Id(1)] long Sequence,
    [property: Id(2)] long Generation,
    [property: Id(3)] DateTimeOffset Created,
    [property: Id(4)] IReadOnlyDictionary<string, string> MediaTypes,
    [property: Id(5)] ImageStreamSpecView? Spec = null);

[GenerateSerializer, Immutable, Alias("registry.manifest-page")]
public sealed record ManifestPage(
    [property: Id(0)] IReadOnlyList<ManifestDescriptor> Manifests,
    [property: Id(1)] bool More);
