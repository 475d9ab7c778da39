using Orleans.Runtime;

namespace Registry.Grains;

[GenerateSerializer, Alias("registry.account-state")]
public sealed class AccountState
{
    [Id(0)] public Account? Account { get; set; }
}

public sealed class AccountGrain(
    [PersistentState("account", GrainStorageNames.Provider)] IPersistentState<AccountState> state,
    TimeProvider time) : Grain, IAccountGrain
{
    public ValueTask<Account?> Get() => ValueTask.FromResult(state.State.Account);

    public async Task<bool> Create(string passwordHash, IReadOnlyList<string> groups, bool isAdmin)
    {
        if (state.State.Account is not null)
        {
            return false;
        }

        await WriteAsync(new Account(this.GetPrimaryKeyString(), passwordHash, [.. groups], isAdmin, time.GetUtcNow()));
        return true;
    }

    public async Task<bool> SetPassword(string passwordHash)
    {
        if (state.State.Account is not { } account)
        {
            return false;
        }

        await WriteAsync(account with { PasswordHash = passwordHash });
        return true;
    }

    public async Task Delete()
    {
        if (state.State.Account is not null)
        {
            await WriteAsync(null);
        }
    }

    private async Task WriteAsync(Account? account)
    {
        state.State.Account = account;
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
