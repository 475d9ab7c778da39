namespace Registry.Grains;

/// <summary>A spec tag's <c>from</c>: an <c>ImageStreamTag</c>, <c>ImageStreamImage</c> or <c>DockerImage</c>, as the client wrote it.</summary>
[GenerateSerializer, Immutable, Alias("registry.spec-tag-from")]
public sealed record SpecTagFrom(
    [property: Id(0)] string Kind,
    [property: Id(1)] string Name,
    [property: Id(2)] string? Namespace);

/// <summary>
/// One entry of an image stream's <c>spec.tags</c> (a TagReference): what the user asked the tag
/// to be. <see cref="Generation"/> is the stream generation at which it last changed.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.spec-tag")]
public sealed record SpecTag(
    [property: Id(0)] string Name,
    [property: Id(1)] IReadOnlyDictionary<string, string>? Annotations,
    [property: Id(2)] SpecTagFrom? From,
    [property: Id(3)] bool Reference,
    [property: Id(4)] long? Generation,
    [property: Id(5)] bool Insecure,
    [property: Id(6)] bool Scheduled,
    [property: Id(7)] string ImportMode,
    [property: Id(8)] string ReferencePolicy)
{
    public const string ImageStreamTag = "ImageStreamTag";
    public const string ImageStreamImage = "ImageStreamImage";
    public const string DockerImage = "DockerImage";

    /// <summary>Whether both ask for the same thing (the generation, which the server sets, aside).</summary>
    public bool SameIntent(SpecTag other)
        => Name == other.Name && From == other.From && Reference == other.Reference && Insecure == other.Insecure && Scheduled == other.Scheduled
            && ImportMode == other.ImportMode && ReferencePolicy == other.ReferencePolicy && SameMap(Annotations, other.Annotations);

    public static bool SameMap(IReadOnlyDictionary<string, string>? a, IReadOnlyDictionary<string, string>? b)
    {
        if ((a?.Count ?? 0) != (b?.Count ?? 0))
        {
            return false;
        }

        return a is null || b is null || a.All(p => b.TryGetValue(p.Key, out var v) && v == p.Value);
    }
}

/// <summary>What an image stream holds besides its status: spec tags, labels and annotations.</summary>
[GenerateSerializer, Immutable, Alias("registry.image-stream-spec-view")]
public sealed record ImageStreamSpecView(
    [property: Id(0)] IReadOnlyList<SpecTag> Tags,
    [property: Id(1)] IReadOnlyDictionary<string, string>? Labels,
    [property: Id(2)] IReadOnlyDictionary<string, string>? Annotations);

[GenerateSerializer, Alias("registry.spec-change-mode")]
public enum SpecChangeMode
{
    /// <summary>An ImageStream create: refused when the stream exists.</summary>
    CreateStream = 0,

    /// <summary>An ImageStream update: the whole spec, labels and annotations replaced; refused when the stream does not exist.</summary>
    UpdateStream = 1,

    /// <summary>An ImageStreamTag create or update: one spec tag set, the rest kept.</summary>
    SetTag = 2,
}

/// <summary>
/// A change of an image stream's spec (and metadata), decided in the repository's turn.
/// <see cref="Resolved"/> holds, per tag, the digest the caller resolved its <c>from</c> to (an
/// image of this repository, copied in first when it came from another); a tracking tag (from an
/// <c>ImageStreamTag</c> of the same stream) not in it is resolved by the repository itself.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.spec-change")]
public sealed record SpecChange(
    [property: Id(0)] SpecChangeMode Mode,
    [property: Id(1)] IReadOnlyList<SpecTag> Tags,
    [property: Id(2)] IReadOnlyDictionary<string, string>? Labels,
    [property: Id(3)] IReadOnlyDictionary<string, string>? Annotations,
    [property: Id(4)] IReadOnlyDictionary<string, string> Resolved,
    [property: Id(5)] bool MayMove,
    [property: Id(6)] long? ExpectedSequence,
    [property: Id(7)] IReadOnlyList<ImmutableTagRule>? ImmutableTagRules,
    [property: Id(8)] bool MustCreateTag = false);

[GenerateSerializer, Alias("registry.spec-change-outcome")]
public enum SpecChangeOutcome
{
    Changed = 0,

    /// <summary>The stream already was as asked: nothing written.</summary>
    Unchanged = 1,

    /// <summary>An update of a stream that does not exist.</summary>
    NotFound = 2,

    /// <summary>A create of a stream (or tag) that exists.</summary>
    AlreadyExists = 3,

    /// <summary>The repository changed since the expected sequence.</summary>
    Stale = 4,

    /// <summary>A tag moved by the change points at another image and the caller may not move it (<see cref="SpecChangeResult.Tag"/>).</summary>
    NeedsOverwrite = 5,

    /// <summary>An immutable tag rule protects a tag the change would move (<see cref="SpecChangeResult.Tag"/>, <see cref="SpecChangeResult.Rule"/>).</summary>
    Immutable = 6,

    /// <summary>Tracking tags follow each other in a cycle (<see cref="SpecChangeResult.Cycle"/>).</summary>
    Cycle = 7,

    /// <summary>A SetTag whose resolved image the repository does not hold.</summary>
    ManifestUnknown = 8,
}

/// <summary>The outcome of a <see cref="SpecChange"/>, the repository's change sequence after it and the tags it moved.</summary>
[GenerateSerializer, Immutable, Alias("registry.spec-change-result")]
public sealed record SpecChangeResult(
    [property: Id(0)] SpecChangeOutcome Outcome,
    [property: Id(1)] long Sequence,
    [property: Id(2)] string? Tag = null,
    [property: Id(3)] string? Rule = null,
    [property: Id(4)] IReadOnlyList<string>? Cycle = null,
    [property: Id(5)] IReadOnlyList<string>? Moved = null);

/// <summary>The rules of spec tags that both the API (before it writes) and the repository (in its turn) apply.</summary>
public static class SpecTagRules
{
    /// <summary>The event action of a change of a stream's spec or metadata that moved no tag.</summary>
    public const string ImageStreamChanged = "imagestream.changed";

    /// <summary>
    /// The tag of the same stream that <paramref name="tag"/> follows (its <c>from</c> an
    /// <c>ImageStreamTag</c> of this stream: <c>tag</c>, or <c>stream:tag</c> in the stream's own
    /// namespace), or null. <paramref name="repository"/> is <c>ns/name</c>, the stream name being the rest with '~' for '/'.
    /// </summary>
    public static string? Tracked(SpecTag tag, string repository)
    {
        if (tag.From is not { Kind: SpecTag.ImageStreamTag } from || from.Name.Length == 0)
        {
            return null;
        }

        var slash = repository.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
        {
            return null;
        }

        if (from.Namespace is { Length: > 0 } ns && ns != repository[..slash])
        {
            return null;
        }

        var colon = from.Name.LastIndexOf(':');
        if (colon < 0)
        {
            return from.Name;
        }

        return from.Name[..colon] == repository[(slash + 1)..].Replace('/', '~') ? from.Name[(colon + 1)..] : null;
    }

    /// <summary>The first cycle among the tracking tags of <paramref name="tags"/> (<c>a → b → a</c>), or null.</summary>
    public static IReadOnlyList<string>? Cycle(string repository, IEnumerable<SpecTag> tags)
    {
        var follows = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var tag in tags)
        {
            if (Tracked(tag, repository) is { } source)
            {
                follows[tag.Name] = source;
            }
        }

        foreach (var start in follows.Keys.Order(StringComparer.Ordinal))
        {
            var path = new List<string> { start };
            var at = start;
            while (follows.TryGetValue(at, out var next))
            {
                var seen = path.IndexOf(next);
                if (seen >= 0)
                {
                    return [.. path.Skip(seen), next];
                }

                path.Add(next);
                at = next;
            }
        }

        return null;
    }
}
