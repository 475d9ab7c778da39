using Orleans.Concurrency;

namespace Registry.Grains;

/// <summary>
/// The root of the catalog (key 0): which shards (<see cref="ICatalogShardGrain"/>) hold names, so
/// a listing asks only those. Written when a shard gets its first name, at most
/// <see cref="RegistryCatalog.ShardCount"/> times in a registry's life.
/// </summary>
[Alias("registry.catalog-index")]
public interface ICatalogIndexGrain : IGrainWithIntegerKey
{
    /// <summary>Records that <paramref name="shard"/> holds names; returns once that is durable.</summary>
    [RetryOnFailover]
    [Alias("add-shard")]
    Task AddShard(int shard);

    /// <summary>The shards that hold names, ascending.</summary>
    [RetryOnFailover]
    [ReadOnly, Alias("shards")]
    ValueTask<int[]> Shards();
}

/// <summary>One shard of the catalog (key: 0 to <see cref="RegistryCatalog.ShardCount"/> − 1): the repository names that hash to it, sorted.</summary>
[Alias("registry.catalog-shard")]
public interface ICatalogShardGrain : IGrainWithIntegerKey
{
    /// <summary>Adds a repository; returns once the shard's stored state holds it.</summary>
    [RetryOnFailover]
    [Alias("add")]
    Task Add(string repository);

    /// <summary>Adds many repositories at once (the catalog of an earlier version moving in); returns once stored.</summary>
    [RetryOnFailover]
    [Alias("add-many")]
    Task AddMany(IReadOnlyList<string> repositories);

    /// <summary>Up to <paramref name="limit"/> names after <paramref name="last"/>, in ordinal order.</summary>
    [RetryOnFailover]
    [ReadOnly, Alias("list")]
    ValueTask<NamePage> List(string? last, int limit);

    // Garbage collection: repositories left empty.

    /// <summary>
    /// Removes a repository (only its own grain calls it, once it is empty; see
    /// <see cref="IRepositoryGrain.RemoveIfEmpty"/>); returns once stored. Idempotent.
    /// </summary>
    [RetryOnFailover]
    [Alias("remove")]
    Task Remove(string repository);
}
