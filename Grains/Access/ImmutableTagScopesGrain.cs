using Orleans.Runtime;

namespace Registry.Grains;

[GenerateSerializer, Alias("registry.immutable-tag-scopes-state")]
public sealed class ImmutableTagScopesState
{
    [Id(0)] public HashSet<string> Scopes { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>
/// Which scopes may hold immutable tag rules (<see cref="IImmutableTagScopesGrain"/>). Read at a
/// process's start and after a rules change is announced, never per push: a registry without
/// rules pays nothing for them.
/// </summary>
public sealed class ImmutableTagScopesGrain(
    [PersistentState("immutable-tag-scopes", GrainStorageNames.Provider)] IPersistentState<ImmutableTagScopesState> state) : Grain, IImmutableTagScopesGrain
{
    public async Task Set(string scope, bool hasRules)
    {
        var changed = hasRules ? state.State.Scopes.Add(scope) : state.State.Scopes.Remove(scope);
        if (!changed)
        {
            return;
        }

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

    public Task<IReadOnlyList<string>> Get() => Task.FromResult<IReadOnlyList<string>>([.. state.State.Scopes]);
}
