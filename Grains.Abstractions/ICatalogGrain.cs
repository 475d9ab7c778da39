using Orleans.Concurrency;

namespace Registry.Grains;

/// <summary>The sorted set of repository names, so <c>_catalog</c> never walks storage.</summary>
[Alias("registry.catalog")]
public interface ICatalogGrain : IGrainWithIntegerKey
{
    [RetryOnFailover]
    [Alias("add")]
    Task Add(string repository);

    [RetryOnFailover]
    [ReadOnly, Alias("list")]
    ValueTask<NamePage> List(string? last, int limit);
}
