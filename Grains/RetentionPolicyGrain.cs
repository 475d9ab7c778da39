using Orleans.Runtime;

namespace Registry.Grains;

[GenerateSerializer, Alias("registry.retention-policy-state")]
public sealed class RetentionPolicyState
{
    [Id(0)] public Dictionary<string, RetentionPolicy> Policies { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Raised by every change and never lowered, so a recreated policy never repeats a resourceVersion.</summary>
    [Id(1)] public long Version { get; set; }
}

/// <summary>The retention policies of one scope (<see cref="IRetentionPolicyGrain"/>); their runs read them, the API replaces them.</summary>
public sealed class RetentionPolicyGrain(
    [PersistentState("retention", GrainStorageNames.Provider)] IPersistentState<RetentionPolicyState> state,
    TimeProvider time) : Grain, IRetentionPolicyGrain
{
    public ValueTask<IReadOnlyList<RetentionPolicy>> List()
        => ValueTask.FromResult<IReadOnlyList<RetentionPolicy>>([.. state.State.Policies.Values.OrderBy(p => p.Name, StringComparer.Ordinal)]);

    public ValueTask<RetentionPolicy?> Get(string name) => ValueTask.FromResult(state.State.Policies.GetValueOrDefault(name));

    public async Task<RetentionPolicyChange> Put(string name, IReadOnlyList<string> repositories, RetentionRules rules, long resourceVersion)
    {
        var current = state.State.Policies.GetValueOrDefault(name);
        if (resourceVersion != 0 && resourceVersion != current?.ResourceVersion)
        {
            return new(RetentionPolicyOutcome.Conflict, current);
        }

        if (current is null && state.State.Policies.Count >= RetentionPolicy.MaxPolicies)
        {
            return new(RetentionPolicyOutcome.TooMany, null);
        }

        var stored = new RetentionPolicy(name, repositories, rules, state.State.Version + 1, current?.CreatedAt ?? time.GetUtcNow());
        state.State.Policies[name] = stored;
        state.State.Version = stored.ResourceVersion;
        await WriteAsync();
        return new(RetentionPolicyOutcome.Done, stored);
    }

    public async Task<RetentionPolicyChange> Delete(string name, long resourceVersion)
    {
        if (state.State.Policies.GetValueOrDefault(name) is not { } current)
        {
            return new(RetentionPolicyOutcome.NotFound, null);
        }

        if (resourceVersion != 0 && resourceVersion != current.ResourceVersion)
        {
            return new(RetentionPolicyOutcome.Conflict, current);
        }

        state.State.Policies.Remove(name);
        state.State.Version++;
        await WriteAsync();
        return new(RetentionPolicyOutcome.Done, current);
    }

    private async Task WriteAsync()
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            // What is in memory was never acknowledged: the next call reads what is stored.
            DeactivateOnIdle();
            throw;
        }
    }
}
