using Orleans.Concurrency;
using Orleans.Runtime;

namespace Registry.Grains;

[GenerateSerializer, Alias("registry.catalog-shard-state")]
public sealed class CatalogShardState
{
    /// <summary>Repository names in ordinal order.</summary>
    [Id(0)] public List<string> Repositories { get; set; } = [];

    /// <summary>The catalog index lists this shard: set before the first write that holds a name.</summary>
    [Id(1)] public bool Indexed { get; set; }
}

/// <remarks>
/// Reentrant so that concurrent additions share state writes (<see cref="GroupCommit"/>): each is
/// applied within one turn and acknowledged once a write that includes it has completed. A listing
/// may see a name up to one write before its adder is answered (as with the repository grain).
/// </remarks>
[Reentrant]
public sealed class CatalogShardGrain : Grain, ICatalogShardGrain
{
    private readonly IPersistentState<CatalogShardState> _state;
    private readonly GroupCommit _commit;

    public CatalogShardGrain([PersistentState("catalog", GrainStorageNames.Provider)] IPersistentState<CatalogShardState> state)
    {
        _state = state;
        _commit = new GroupCommit(WriteAsync, DeactivateOnIdle);
    }

    private List<string> Names => _state.State.Repositories;

    public Task Add(string repository)
    {
        Insert(repository);

        // Also when present: an earlier call may have added it with its write still in flight.
        return _commit.CommitAsync();
    }

    public Task AddMany(IReadOnlyList<string> repositories)
    {
        foreach (var repository in repositories)
        {
            Insert(repository);
        }

        return _commit.CommitAsync();
    }

    public Task Remove(string repository)
    {
        var index = Paging.BinarySearch(Names, repository);
        if (index >= 0)
        {
            Names.RemoveAt(index);
        }

        // Also when absent: an earlier call may have removed it with its write still in flight.
        return _commit.CommitAsync();
    }

    public ValueTask<NamePage> List(string? last, int limit) => ValueTask.FromResult(Paging.Page(Names, last, limit));

    private void Insert(string repository)
    {
        var index = Paging.BinarySearch(Names, repository);
        if (index < 0)
        {
            Names.Insert(~index, repository);
        }
    }

    private async Task WriteAsync()
    {
        if (!_state.State.Indexed)
        {
            await GrainFactory.GetGrain<ICatalogIndexGrain>(0).AddShard((int)this.GetPrimaryKeyLong());
            _state.State.Indexed = true;
        }

        await _state.WriteStateAsync();
    }
}
