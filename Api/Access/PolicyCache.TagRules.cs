using System.Collections.Frozen;
using Registry.Grains;

namespace Registry.Api.Access;

/// <summary>
/// Which scopes may hold immutable tag rules (<see cref="IImmutableTagScopesGrain"/>), kept with
/// the policy cache: fetched at the first poll and again only when a poll sees a rules change
/// announced (or the change log restarted), so a push to a repository whose namespace and registry
/// have no rules costs no grain call.
/// </summary>
public sealed partial class PolicyCache
{
    private FrozenSet<string>? _tagRuleScopes;
    private long _localTagRuleChanges;

    /// <summary>How many times the set of scopes with rules was read from its grain (for tests and diagnostics).</summary>
    public long TagRuleScopeFetches => Interlocked.Read(ref _tagRuleScopeFetches);

    private long _tagRuleScopeFetches;

    /// <summary>The scopes that may hold immutable tag rules: from the cache while polling works, otherwise read now.</summary>
    public ValueTask<FrozenSet<string>> GetTagRuleScopesAsync()
        => Volatile.Read(ref _tagRuleScopes) is { } scopes && Environment.TickCount64 - Volatile.Read(ref _lastPoll) < _trustMs
            ? ValueTask.FromResult(scopes)
            : new(FetchTagRuleScopesAsync());

    /// <summary>Takes a policy a rules change returned: this process enforces its rules from the next push on.</summary>
    public void PutTagRules(ScopePolicy policy)
    {
        Put(policy);
        Interlocked.Increment(ref _localTagRuleChanges);
        var scopes = Volatile.Read(ref _tagRuleScopes);
        if (scopes is null)
        {
            return;
        }

        var updated = new HashSet<string>(scopes, StringComparer.Ordinal);
        _ = policy.TagRules.Rules.Count > 0 ? updated.Add(policy.Scope) : updated.Remove(policy.Scope);
        Volatile.Write(ref _tagRuleScopes, updated.ToFrozenSet(StringComparer.Ordinal));
    }

    private async Task RefreshTagRuleScopesAsync(IReadOnlyList<PolicyChange>? changes)
    {
        if (Volatile.Read(ref _tagRuleScopes) is null || changes is null || changes.Any(c => c.TagRules))
        {
            await FetchTagRuleScopesAsync();
        }
    }

    private async Task<FrozenSet<string>> FetchTagRuleScopesAsync()
    {
        var local = Interlocked.Read(ref _localTagRuleChanges);
        Interlocked.Increment(ref _tagRuleScopeFetches);
        var scopes = (await grains.GetGrain<IImmutableTagScopesGrain>(0).Get()).ToFrozenSet(StringComparer.Ordinal);

        // A change made here meanwhile may be newer than this read: keep it; its announcement makes the next poll read again.
        if (Interlocked.Read(ref _localTagRuleChanges) == local || Volatile.Read(ref _tagRuleScopes) is null)
        {
            Volatile.Write(ref _tagRuleScopes, scopes);
        }

        return Volatile.Read(ref _tagRuleScopes) ?? scopes;
    }
}
