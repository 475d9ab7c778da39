namespace Registry.Grains;

/// <summary>
/// The repository's side of immutable tag rules: the caller passes the rules whose repository
/// glob matches this repository, and these checks run in the same turn as the change they guard,
/// so no concurrent push can slip between the check and the change. A tag that does not exist
/// yet may be pushed (its first push), and pushing the digest it already has changes nothing.
/// </summary>
public static class ImmutableTagCheck
{
    /// <summary>Why a push may not move its tags, or null.</summary>
    public static ManifestPushResult? Refusal(RepositoryState state, ManifestPush push)
    {
        if (push.ImmutableTagRules is not { Count: > 0 } rules)
        {
            return null;
        }

        foreach (var tag in push.AllTags)
        {
            if (state.Tags.TryGetValue(tag, out var current) && current.Digest != push.Manifest.Digest && Protecting(rules, tag) is { } rule)
            {
                return new ManifestPushResult(ManifestPushOutcome.Immutable, tag, state.Generation, rule.Name);
            }
        }

        return null;
    }

    /// <summary>Why a tag may not be deleted, or null.</summary>
    public static GuardedDeleteResult? TagDeleteRefusal(RepositoryState state, string tag, IReadOnlyList<ImmutableTagRule> rules)
        => state.Tags.ContainsKey(tag) && Protecting(rules, tag) is { } rule ? new GuardedDeleteResult(false, rule.Name, tag) : null;

    /// <summary>Why a manifest may not be deleted (a protected tag points at it), or null.</summary>
    public static GuardedDeleteResult? ManifestDeleteRefusal(RepositoryState state, string digest, IReadOnlyList<ImmutableTagRule> rules)
        => FirstProtected(state, rules, digest);

    /// <summary>Why the image API may not delete the whole repository (any tag of it is protected), or null.</summary>
    public static GuardedDeleteResult? StreamDeleteRefusal(RepositoryState state, IReadOnlyList<ImmutableTagRule> rules)
        => FirstProtected(state, rules, null);

    /// <summary>Why <paramref name="move"/> may not point its tag elsewhere (the tag exists, has another digest and is protected), or null.</summary>
    public static TagMoveResult? Refusal(RepositoryState state, TagMove move)
        => move.ImmutableTagRules is { Count: > 0 } rules
            && state.Tags.TryGetValue(move.Tag, out var current)
            && current.Digest != move.Digest
            && Protecting(rules, move.Tag) is { } rule
                ? new TagMoveResult(TagMoveOutcome.Immutable, state.EventSequence, rule.Name)
                : null;

    // In ordinal order of tag, so a refusal names the same tag each time it is asked.
    private static GuardedDeleteResult? FirstProtected(RepositoryState state, IReadOnlyList<ImmutableTagRule> rules, string? digest)
    {
        if (rules.Count == 0)
        {
            return null;
        }

        foreach (var (tag, current) in state.Tags.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            if ((digest is null || current.Digest == digest) && Protecting(rules, tag) is { } rule)
            {
                return new GuardedDeleteResult(false, rule.Name, tag);
            }
        }

        return null;
    }

    private static ImmutableTagRule? Protecting(IReadOnlyList<ImmutableTagRule> rules, string tag)
    {
        foreach (var rule in rules)
        {
            if (rule.Protects(tag))
            {
                return rule;
            }
        }

        return null;
    }
}
