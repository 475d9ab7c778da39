namespace Registry.Grains;

/// <summary>The immutable tag rules of a scope (docs/immutable-tags.md), stored with its policy so they reach every process's cache the same way.</summary>
public sealed partial class PolicyGrain
{
    public async Task<PolicyChangeResult> PutImmutableTagRules(IReadOnlyList<ImmutableTagRule> rules, long resourceVersion)
    {
        var current = state.State.TagRules ?? ImmutableTagRules.None;
        if (resourceVersion != 0 && resourceVersion != current.ResourceVersion)
        {
            return new(PolicyOutcome.Conflict, Snapshot());
        }

        if (rules.Count > ImmutableTagRule.MaxRules)
        {
            return new(PolicyOutcome.TooMany, Snapshot());
        }

        // The index of scopes with rules is a superset of them: joined before rules are stored, left after they are gone.
        var scopes = GrainFactory.GetGrain<IImmutableTagScopesGrain>(0);
        if (rules.Count > 0)
        {
            await scopes.Set(Scope, hasRules: true);
        }

        var stored = new ImmutableTagRules([.. rules], state.State.Version + 1, time.GetUtcNow());
        await WriteAsync(
            s => s.TagRules = stored,
            () => rules.Count == 0 ? scopes.Set(Scope, hasRules: false) : Task.CompletedTask);
        return new(PolicyOutcome.Done, Snapshot());
    }
}
