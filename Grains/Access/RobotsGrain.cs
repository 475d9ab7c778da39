using Orleans.Runtime;

namespace Registry.Grains;

[GenerateSerializer, Alias("registry.robots-state")]
public sealed class RobotsState
{
    [Id(0)] public Dictionary<string, Robot> Robots { get; set; } = new(StringComparer.Ordinal);

    [Id(1)] public long LastVersion { get; set; }
}

public sealed class RobotsGrain(
    [PersistentState("robots", GrainStorageNames.Provider)] IPersistentState<RobotsState> state,
    TimeProvider time) : Grain, IRobotsGrain
{
    private static readonly TimeSpan UseResolution = TimeSpan.FromMinutes(1);

    public ValueTask<Robot?> Get(string name) => ValueTask.FromResult(state.State.Robots.GetValueOrDefault(name));

    public ValueTask<IReadOnlyList<Robot>> List()
        => ValueTask.FromResult<IReadOnlyList<Robot>>([.. state.State.Robots.Values.OrderBy(r => r.Name, StringComparer.Ordinal)]);

    public async Task<(RobotOutcome Outcome, Robot? Robot)> Create(Robot robot)
    {
        if (state.State.Robots.TryGetValue(robot.Name, out var existing))
        {
            return (RobotOutcome.Exists, existing);
        }

        if (state.State.Robots.Count >= IRobotsGrain.Limit)
        {
            return (RobotOutcome.TooMany, null);
        }

        var stored = robot with { CreatedAt = time.GetUtcNow(), LastUsedAt = null, Version = ++state.State.LastVersion };
        state.State.Robots[robot.Name] = stored;
        await WriteAsync();
        return (RobotOutcome.Created, stored);
    }

    public async Task<Robot?> Delete(string name)
    {
        if (!state.State.Robots.Remove(name, out var removed))
        {
            return null;
        }

        state.State.LastVersion++;
        await WriteAsync();
        return removed;
    }

    public async Task MarkUsed(string name, DateTimeOffset at)
    {
        if (state.State.Robots.TryGetValue(name, out var robot) && (robot.LastUsedAt is not { } last || at - last >= UseResolution))
        {
            state.State.Robots[name] = robot with { LastUsedAt = at };
            await WriteAsync();
        }
    }

    private async Task WriteAsync()
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            // As every grain here: the next call reloads what is stored, so nothing unstored is acknowledged.
            DeactivateOnIdle();
            throw;
        }
    }
}
