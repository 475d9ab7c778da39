using Orleans.Concurrency;
using Orleans.Runtime;

namespace Registry.Grains;

/// <summary>The catalog's root state; before the catalog was sharded, the whole catalog.</summary>
[GenerateSerializer, Alias("registry.catalog-state")]
public sealed class CatalogState
{
    /// <summary>The names of the single-grain catalog of earlier versions, until they have moved into the shards.</summary>
    [Id(0)] public List<string> Repositories { get; set; } = [];

    /// <summary>The shards that hold names, ascending.</summary>
    [Id(1)] public List<int> Shards { get; set; } = [];
}

/// <remarks>
/// Grain type <c>catalog</c>, the type of the single catalog grain of earlier versions, so it
/// activates on that grain's stored state and moves its names into the shards before it answers
/// a listing. Reentrant so that shards registering themselves during that move interleave with it
/// (the move adds names to shards, whose first write registers them here).
/// </remarks>
[GrainType("catalog"), Reentrant]
public sealed class CatalogIndexGrain : Grain, ICatalogIndexGrain
{
    private readonly IPersistentState<CatalogState> _state;
    private readonly GroupCommit _commit;
    private Task? _migration;

    public CatalogIndexGrain([PersistentState("catalog", GrainStorageNames.Provider)] IPersistentState<CatalogState> state)
    {
        _state = state;
        _commit = new GroupCommit(() => _state.WriteStateAsync(), DeactivateOnIdle);
    }

    private CatalogState S => _state.State;

    public Task AddShard(int shard)
    {
        if (shard is < 0 or >= RegistryCatalog.ShardCount)
        {
            throw new ArgumentOutOfRangeException(nameof(shard), shard, "not a catalog shard");
        }

        var index = S.Shards.BinarySearch(shard);
        if (index < 0)
        {
            S.Shards.Insert(~index, shard);
        }

        // Also when present: an earlier call may have added it with its write still in flight.
        return _commit.CommitAsync();
    }

    public async ValueTask<int[]> Shards()
    {
        if (S.Repositories.Count > 0)
        {
            await MigrateAsync();
        }

        return [.. S.Shards];
    }

    /// <summary>Moves the names of the single-grain catalog into the shards, once; a failed move is retried by the next listing.</summary>
    private Task MigrateAsync()
    {
        if (_migration is not { IsFaulted: false, IsCanceled: false })
        {
            _migration = MoveAsync();
        }

        return _migration;

        async Task MoveAsync()
        {
            var moving = S.Repositories.ToArray();
            await Task.WhenAll(moving
                .GroupBy(RegistryCatalog.ShardOf)
                .Select(g => GrainFactory.GetGrain<ICatalogShardGrain>(g.Key).AddMany(g.ToArray())));

            // Every shard that took names registered itself (AddShard) before storing them.
            S.Repositories = [];
            await _commit.CommitAsync();
        }
    }
}
