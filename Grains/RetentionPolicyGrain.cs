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

        // A schedule is told to the scheduler before the policy is stored, an unschedule after: a
        // crash in between leaves the scheduler knowing a policy that is gone or unscheduled, which
        // its first claim finds and drops, never a stored schedule the scheduler does not know.
        if (rules.ScheduleInterval is not null)
        {
            await Scheduler.Set(Scope, name, rules.ScheduleInterval);
        }

        var stored = new RetentionPolicy(name, repositories, rules, state.State.Version + 1, current?.CreatedAt ?? time.GetUtcNow(), current?.LastScheduledRun);
        state.State.Policies[name] = stored;
        state.State.Version = stored.ResourceVersion;
        await WriteAsync();
        if (rules.ScheduleInterval is null && current?.Rules.ScheduleInterval is not null)
        {
            await Scheduler.Set(Scope, name, null);
        }

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
        if (current.Rules.ScheduleInterval is not null)
        {
            await Scheduler.Set(Scope, name, null);
        }

        return new(RetentionPolicyOutcome.Done, current);
    }

    public async Task<bool> RecordScheduledRun(string name, RetentionRunSummary run)
    {
        if (state.State.Policies.GetValueOrDefault(name) is not { } current)
        {
            return false;
        }

        state.State.Policies[name] = current with { LastScheduledRun = run };
        await WriteAsync();
        return true;
    }

    private string Scope => this.GetPrimaryKeyString();

    private IRetentionScheduleGrain Scheduler => GrainFactory.GetGrain<IRetentionScheduleGrain>(0);

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
