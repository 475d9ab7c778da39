using Orleans.Concurrency;
using Orleans.Runtime;

namespace Registry.Grains;

[GenerateSerializer, Alias("registry.outbox-directory-state")]
public sealed class OutboxDirectoryState
{
    /// <summary>Names of the repositories whose stored outbox may hold events.</summary>
    [Id(0)] public HashSet<string> Repositories { get; set; } = new(StringComparer.Ordinal);
}

/// <remarks>
/// A repository records itself before the first state write of an activation that stores events
/// (<see cref="OutboxRecord"/>) and removes itself when it deactivates with an empty stored outbox,
/// so every stored event belongs to a recorded repository at the cost of two calls per activation,
/// not one per change. A crash or a silo stop may leave the record of an empty outbox behind; the
/// next wake removes it. Reentrant: changes are applied within one turn and share state writes
/// (<see cref="GroupCommit"/>).
/// </remarks>
[Reentrant]
public sealed class OutboxDirectoryGrain : Grain, IOutboxDirectoryGrain
{
    private readonly IPersistentState<OutboxDirectoryState> _state;
    private readonly GroupCommit _commit;

    public OutboxDirectoryGrain([PersistentState("outbox-directory", GrainStorageNames.Provider)] IPersistentState<OutboxDirectoryState> state)
    {
        _state = state;
        _commit = new GroupCommit(() => _state.WriteStateAsync(), DeactivateOnIdle);
    }

    public async Task Add(string repository)
    {
        if (_state.State.Repositories.Add(repository))
        {
            await _commit.CommitAsync();
        }
    }

    public async Task Remove(string repository)
    {
        if (_state.State.Repositories.Remove(repository))
        {
            await _commit.CommitAsync();
        }
    }

    public Task<int> Wake()
    {
        var repositories = _state.State.Repositories.ToArray();
        foreach (var repository in repositories)
        {
            // One-way: the repository publishes its outbox as it activates; nothing waits for it here.
            _ = GrainFactory.GetGrain<IRepositoryGrain>(repository).WakeOutbox();
        }

        return Task.FromResult(repositories.Length);
    }

    public ValueTask<IReadOnlyList<string>> List()
        => ValueTask.FromResult<IReadOnlyList<string>>(_state.State.Repositories.Order(StringComparer.Ordinal).ToArray());
}
