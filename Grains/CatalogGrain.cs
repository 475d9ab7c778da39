using Orleans.Runtime;

namespace Registry.Grains;

[GenerateSerializer, Alias("registry.catalog-state")]
public sealed class CatalogState
{
    /// <summary>Repository names in ordinal order.</summary>
    [Id(0)] public List<string> Repositories { get; set; } = [];
}

public sealed class CatalogGrain(
    [PersistentState("catalog", GrainStorageNames.Provider)] IPersistentState<CatalogState> state) : Grain, ICatalogGrain
{
    public async Task Add(string repository)
    {
        var list = state.State.Repositories;
        var index = Paging.BinarySearch(list, repository);
        if (index >= 0)
        {
            return;
        }

        list.Insert(~index, repository);
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            DeactivateOnIdle();
            throw;
        }
    }

    public ValueTask<NamePage> List(string? last, int limit)
        => ValueTask.FromResult(Paging.Page(state.State.Repositories, last, limit));
}
