namespace Registry.Grains;

/// <summary>
/// Points <see cref="Tag"/> at <see cref="Digest"/>, a manifest the repository holds already (the
/// image API's ImageStreamTag create and update, <c>oc tag</c> and rollback).
/// </summary>
/// <param name="MustCreate">Refuse when the tag exists (a create).</param>
/// <param name="MayMove">The caller may move a tag that points at another manifest (overwrite).</param>
/// <param name="ExpectedSequence">The repository's change sequence the caller read (its resourceVersion); another one refuses as stale.</param>
/// <param name="ImmutableTagRules">The immutable tag rules whose repository glob matches (docs/immutable-tags.md); one that protects an existing tag refuses its move.</param>
[GenerateSerializer, Immutable, Alias("registry.tag-move")]
public sealed record TagMove(
    [property: Id(0)] string Tag,
    [property: Id(1)] string Digest,
    [property: Id(2)] bool MustCreate,
    [property: Id(3)] bool MayMove,
    [property: Id(4)] long? ExpectedSequence,
    [property: Id(5)] IReadOnlyList<ImmutableTagRule>? ImmutableTagRules = null);

[GenerateSerializer, Alias("registry.tag-move-outcome")]
public enum TagMoveOutcome
{
    Moved = 0,

    /// <summary>The repository holds no manifest with the digest.</summary>
    ManifestUnknown = 1,

    /// <summary>A create of a tag that exists.</summary>
    TagExists = 2,

    /// <summary>The tag points at another manifest and the caller may not move it.</summary>
    NeedsOverwrite = 3,

    /// <summary>The repository changed since the expected sequence.</summary>
    Stale = 4,

    /// <summary>The tag exists, points at another manifest, and an immutable tag rule protects it (<see cref="TagMoveResult.Rule"/>).</summary>
    Immutable = 5,
}

/// <summary>The outcome of a <see cref="TagMove"/>, the repository's change sequence after it and, when refused as immutable, the rule's name.</summary>
[GenerateSerializer, Immutable, Alias("registry.tag-move-result")]
public sealed record TagMoveResult([property: Id(0)] TagMoveOutcome Outcome, [property: Id(1)] long Sequence, [property: Id(2)] string? Rule = null);
