using Orleans.Runtime;

namespace Registry.Grains;

[GenerateSerializer, Alias("registry.retention-schedule-entry")]
public sealed class RetentionScheduleEntry
{
    [Id(0)] public string Scope { get; set; } = "";

    [Id(1)] public string Name { get; set; } = "";

    [Id(2)] public TimeSpan Interval { get; set; }

    [Id(3)] public DateTimeOffset NextRunAt { get; set; }

    /// <summary>Until when a claimant holds the run it was handed; null when nobody does.</summary>
    [Id(4)] public DateTimeOffset? ClaimedUntil { get; set; }
}

[GenerateSerializer, Alias("registry.retention-schedule-state")]
public sealed class RetentionScheduleState
{
    /// <summary>Keyed by scope and name (<see cref="RetentionScheduleGrain.KeyOf"/>).</summary>
    [Id(0)] public Dictionary<string, RetentionScheduleEntry> Entries { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>
/// The schedule of retention policies (<see cref="IRetentionScheduleGrain"/>). Every claim is
/// stored before it is answered, so after a restart or a move to another silo no due run is handed
/// out twice while its claimant lives, and none is lost: a claimant that dies frees its runs when
/// their lease ends.
/// </summary>
public sealed class RetentionScheduleGrain(
    [PersistentState("retentionschedule", GrainStorageNames.Provider)] IPersistentState<RetentionScheduleState> state,
    TimeProvider time) : Grain, IRetentionScheduleGrain
{
    public static string KeyOf(string scope, string name) => scope + "\n" + name;

    public async Task Set(string scope, string name, TimeSpan? interval)
    {
        var key = KeyOf(scope, name);
        var entries = state.State.Entries;
        if (interval is not { } every)
        {
            if (entries.Remove(key))
            {
                await WriteAsync();
            }

            return;
        }

        if (entries.TryGetValue(key, out var known) && known.Interval == every)
        {
            return;
        }

        // First due one interval from now: a policy is not applied the moment it is written (a dry run comes first).
        entries[key] = new RetentionScheduleEntry { Scope = scope, Name = name, Interval = every, NextRunAt = time.GetUtcNow() + every };
        await WriteAsync();
    }

    public async Task<IReadOnlyList<RetentionDue>> ClaimDue(TimeSpan lease)
    {
        var now = time.GetUtcNow();
        var due = state.State.Entries.Values
            .Where(e => e.NextRunAt <= now && (e.ClaimedUntil is not { } until || until <= now))
            .OrderBy(e => e.NextRunAt)
            .ToList();
        if (due.Count == 0)
        {
            return [];
        }

        foreach (var entry in due)
        {
            entry.ClaimedUntil = now + lease;
        }

        await WriteAsync();
        return [.. due.Select(e => new RetentionDue(e.Scope, e.Name, e.Interval))];
    }

    public async Task Finished(string scope, string name, DateTimeOffset startedAt)
    {
        if (!state.State.Entries.TryGetValue(KeyOf(scope, name), out var entry))
        {
            return;
        }

        // One interval after the run began; a run that took longer than its interval is due again at once.
        var now = time.GetUtcNow();
        var next = startedAt + entry.Interval;
        entry.NextRunAt = next > now ? next : now;
        entry.ClaimedUntil = null;
        await WriteAsync();
    }

    public ValueTask<IReadOnlyList<RetentionScheduled>> List(string scope)
        => ValueTask.FromResult<IReadOnlyList<RetentionScheduled>>(
            [.. state.State.Entries.Values.Where(e => e.Scope == scope).OrderBy(e => e.Name, StringComparer.Ordinal).Select(e => new RetentionScheduled(e.Scope, e.Name, e.Interval, e.NextRunAt))]);

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
