using Registry.Api.Access;
using Registry.Grains;

namespace Registry.Api.Lifecycle;

/// <summary>
/// The immutable tag rules that apply to a repository: those of the registry scope whose
/// repository glob matches its full name, and those of its namespace whose glob matches its name
/// within the namespace. Read from the process's <see cref="PolicyCache"/>: with no rules in
/// either scope it answers without a grain call. Every change of a repository's tags that a client
/// asks for (push, tag delete, manifest delete, image API tag writes) passes these to the grain,
/// which decides within its own turn.
/// </summary>
public sealed class ImmutableTagLookup(PolicyCache cache)
{
    private static readonly ValueTask<IReadOnlyList<ImmutableTagRule>> None = ValueTask.FromResult<IReadOnlyList<ImmutableTagRule>>([]);

    public ValueTask<IReadOnlyList<ImmutableTagRule>> ForRepositoryAsync(string repository)
    {
        var scopes = cache.GetTagRuleScopesAsync();
        if (scopes.IsCompletedSuccessfully)
        {
            var known = scopes.Result;
            return known.Count == 0 || (!known.Contains(ScopePolicy.RegistryScope) && !known.Contains(Authorizer.NamespaceOf(repository)))
                ? None
                : new(FromPoliciesAsync(repository, known));
        }

        return new(SlowlyAsync(repository, scopes));
    }

    private async Task<IReadOnlyList<ImmutableTagRule>> SlowlyAsync(string repository, ValueTask<System.Collections.Frozen.FrozenSet<string>> scopes)
        => await FromPoliciesAsync(repository, await scopes);

    private async Task<IReadOnlyList<ImmutableTagRule>> FromPoliciesAsync(string repository, IReadOnlySet<string> scopes)
    {
        var rules = new List<ImmutableTagRule>();
        if (scopes.Contains(ScopePolicy.RegistryScope))
        {
            rules.AddRange(Matching((await cache.GetAsync(ScopePolicy.RegistryScope)).TagRules, repository));
        }

        var ns = Authorizer.NamespaceOf(repository);
        if (scopes.Contains(ns))
        {
            rules.AddRange(Matching((await cache.GetAsync(ns)).TagRules, RelativeName(repository)));
        }

        return rules;
    }

    /// <summary>A repository's name within its namespace: empty for a repository named as the namespace itself.</summary>
    public static string RelativeName(string repository)
    {
        var slash = repository.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 ? repository[(slash + 1)..] : "";
    }

    private static IEnumerable<ImmutableTagRule> Matching(ImmutableTagRules rules, string name)
        => rules.Rules.Where(r => Glob.IsMatch(r.Repositories, name));
}
