using Orleans.Runtime;

namespace Registry.Grains;

[GenerateSerializer, Alias("registry.namespace-directory-state")]
public sealed class NamespaceDirectoryState
{
    [Id(0)] public SortedSet<string> Names { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>The names of created namespaces (<see cref="INamespaceDirectoryGrain"/>); a name may outlive its namespace briefly, never the other way round.</summary>
public sealed class NamespaceDirectoryGrain(
    [PersistentState("namespaces", GrainStorageNames.Provider)] IPersistentState<NamespaceDirectoryState> state) : Grain, INamespaceDirectoryGrain
{
    public Task Add(string name) => state.State.Names.Add(name) ? WriteAsync() : Task.CompletedTask;

    public Task Remove(string name) => state.State.Names.Remove(name) ? WriteAsync() : Task.CompletedTask;

    public Task<IReadOnlyList<string>> List() => Task.FromResult<IReadOnlyList<string>>([.. state.State.Names]);

    private async Task WriteAsync()
    {
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
}
