namespace Registry.Grains;

/// <summary>
/// Points <see cref="Tag"/> at <see cref="Digest"/>, a manifest the repository holds already (the
/// image API's ImageStreamTag create and update, <c>oc tag</c> and rollback).
/// </summary>
/// <param name="MustCreate">Refuse when the tag exists (a create).</param>
/// <param name="MayMove">The caller may move a tag that points at another manifest (overwrite).</param>
/// <param name="ExpectedSequence">The repository's change sequence the caller read (its resourceVersion); another one refuses as stale.</param>
[GenerateSerializer, Immutable, Alias("registry.tag-move")]
public sealed record TagMove(
    [property: Id(0)] string Tag,
    [property: Id(1)] string Digest,
    [property: Id(2)] bool MustCreate,
    [property: Id(3)] bool MayMove,
    [property: Id(4)] long? ExpectedSequence);

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
}

/// <summary>The outcome of a <see cref="TagMove"/> and the repository's change sequence after it.</summary>
[GenerateSerializer, Immutable, Alias("registry.tag-move-result")]
public sealed record TagMoveResult([property: Id(0)] TagMoveOutcome Outcome, [property: Id(1)] long Sequence);
