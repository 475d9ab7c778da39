namespace Registry.Grains;

/// <summary>
/// One immutable tag rule of a scope: a tag that matches <paramref name="Tags"/>, in a repository
/// that matches <paramref name="Repositories"/> (relative to the namespace in a namespace's rules,
/// the full name in the registry's), may be pushed once and then neither moved nor deleted, nor
/// may the manifest it points at be deleted. Globs as <see cref="Glob"/> reads them.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.immutable-tag-rule")]
public sealed record ImmutableTagRule(
    [property: Id(0)] string Name,
    [property: Id(1)] string Repositories,
    [property: Id(2)] string Tags)
{
    /// <summary>The most rules one scope holds.</summary>
    public const int MaxRules = 100;

    /// <summary>The longest glob (and rule name) accepted.</summary>
    public const int MaxLength = 128;

    /// <summary>Whether the rule protects <paramref name="tag"/> (the repository is matched by whoever chose the rule).</summary>
    public bool Protects(string tag) => Glob.IsMatch(Tags, tag);
}

/// <summary>The immutable tag rules of one scope as stored, with the version their last change raised them to (0: never set).</summary>
[GenerateSerializer, Immutable, Alias("registry.immutable-tag-rules")]
public sealed record ImmutableTagRules(
    [property: Id(0)] IReadOnlyList<ImmutableTagRule> Rules,
    [property: Id(1)] long ResourceVersion,
    [property: Id(2)] DateTimeOffset? ChangedAt)
{
    public static readonly ImmutableTagRules None = new([], 0, null);
}

/// <summary>The outcome of a delete that immutable tag rules may refuse: <see cref="Rule"/> and <see cref="Tag"/> name the refusal.</summary>
[GenerateSerializer, Immutable, Alias("registry.guarded-delete-result")]
public sealed record GuardedDeleteResult(
    [property: Id(0)] bool Deleted,
    [property: Id(1)] string? Rule = null,
    [property: Id(2)] string? Tag = null)
{
    public bool Refused => Rule is not null;
}

/// <summary>
/// The scopes whose policy may hold immutable tag rules (key 0): always a superset of those that
/// do (a scope is added before its rules are stored and removed after they are gone), so a process
/// that knows this set knows, without asking any policy, that a repository has no rules.
/// </summary>
[Alias("registry.immutable-tag-scopes")]
public interface IImmutableTagScopesGrain : IGrainWithIntegerKey
{
    [Alias("set")]
    Task Set(string scope, bool hasRules);

    [Orleans.Concurrency.ReadOnly, Alias("get")]
    Task<IReadOnlyList<string>> Get();
}

/// <summary>
/// The globs of immutable tag rules: <c>*</c> matches any run of characters but <c>/</c>,
/// <c>**</c> any run including <c>/</c> (and nothing), <c>?</c> one character but <c>/</c>; every
/// other character stands for itself. Matching is over the whole text, case-sensitively.
/// </summary>
public static class Glob
{
    /// <summary>Whether <paramref name="glob"/> may be stored: 1–<see cref="ImmutableTagRule.MaxLength"/> characters of a repository or tag name, or wildcards.</summary>
    public static bool IsValid(string? glob)
        => glob is { Length: > 0 and <= ImmutableTagRule.MaxLength } && glob.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '/' or '*' or '?');

    public static bool IsMatch(string glob, string text)
    {
        // Dynamic programming over (glob position, text position): linear in each, never exponential.
        var current = new bool[text.Length + 1];
        var next = new bool[text.Length + 1];
        current[0] = true;
        var i = 0;
        while (i < glob.Length)
        {
            Array.Clear(next);
            var c = glob[i];
            if (c == '*')
            {
                var any = i + 1 < glob.Length && glob[i + 1] == '*';
                var reached = false;
                for (var t = 0; t <= text.Length; t++)
                {
                    // A star extends a match to the right while the text has no slash (or for ever, with two).
                    reached = current[t] || (reached && (any || text[t - 1] != '/'));
                    next[t] = reached;
                }

                i += any ? 2 : 1;
                while (i < glob.Length && glob[i] == '*')
                {
                    i++;
                }
            }
            else
            {
                for (var t = 0; t < text.Length; t++)
                {
                    next[t + 1] = current[t] && (c == '?' ? text[t] != '/' : text[t] == c);
                }

                i++;
            }

            (current, next) = (next, current);
        }

        return current[text.Length];
    }
}
