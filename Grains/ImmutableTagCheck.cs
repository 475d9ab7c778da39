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
    {
        if (rules.Count == 0)
        {
            return null;
        }

        foreach (var (tag, current) in state.Tags)
        {
            if (current.Digest == digest && Protecting(rules, tag) is { } rule)
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
