using Orleans.Runtime;

namespace Registry.Grains;

[GenerateSerializer, Alias("registry.account-directory-state")]
public sealed class AccountDirectoryState
{
    /// <summary>Sorted ordinally (a list: a serialized sorted set would not keep its comparer).</summary>
    [Id(0)] public List<string> Names { get; set; } = [];
}

public sealed class AccountDirectoryGrain(
    [PersistentState("account-directory", GrainStorageNames.Provider)] IPersistentState<AccountDirectoryState> state) : Grain, IAccountDirectoryGrain
{
    public async Task Add(string name)
    {
        var at = state.State.Names.BinarySearch(name, StringComparer.Ordinal);
        if (at < 0)
        {
            state.State.Names.Insert(~at, name);
            await WriteAsync();
        }
    }

    public async Task Remove(string name)
    {
        var at = state.State.Names.BinarySearch(name, StringComparer.Ordinal);
        if (at >= 0)
        {
            state.State.Names.RemoveAt(at);
            await WriteAsync();
        }
    }

    public ValueTask<(IReadOnlyList<string> Names, bool More)> List(string? after, int limit)
    {
        var names = state.State.Names;
        var start = after is null ? 0 : names.BinarySearch(after, StringComparer.Ordinal) is var at && at >= 0 ? at + 1 : ~at;
        var page = names.Skip(start).Take(limit + 1).ToList();
        var more = page.Count > limit;
        return ValueTask.FromResult<(IReadOnlyList<string>, bool)>((more ? page[..limit] : page, more));
    }

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
