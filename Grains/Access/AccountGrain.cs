using Orleans.Runtime;

namespace Registry.Grains;

[GenerateSerializer, Alias("registry.account-state")]
public sealed class AccountState
{
    [Id(0)] public Account? Account { get; set; }

    /// <summary>The version of the last write, kept after a delete so a re-created account never repeats one.</summary>
    [Id(1)] public long LastVersion { get; set; }
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

        // Listed first: a failure between the two leaves a name without an account, which listing skips.
        await GrainFactory.GetGrain<IAccountDirectoryGrain>(0).Add(this.GetPrimaryKeyString());
        await WriteAsync(new Account(this.GetPrimaryKeyString(), passwordHash, [.. groups], isAdmin, time.GetUtcNow()));
        return true;
    }

    public async Task<bool> SetPassword(string passwordHash)
        => (await Update(new AccountUpdate(null, passwordHash, null, null))).Outcome == AccountOutcome.Done;

    public async Task<AccountResult> Update(AccountUpdate update)
    {
        if (state.State.Account is not { } account)
        {
            return new(AccountOutcome.NotFound, null);
        }

        if (update.ExpectedVersion is { } expected && expected != account.Version)
        {
            return new(AccountOutcome.Conflict, account);
        }

        await WriteAsync(account with
        {
            PasswordHash = update.PasswordHash ?? account.PasswordHash,
            Groups = update.Groups is { } groups ? [.. groups] : account.Groups,
            IsAdmin = update.IsAdmin ?? account.IsAdmin,
        });
        return new(AccountOutcome.Done, state.State.Account);
    }

    public async Task Delete()
    {
        if (state.State.Account is not null)
        {
            await WriteAsync(null);
            await GrainFactory.GetGrain<IAccountDirectoryGrain>(0).Remove(this.GetPrimaryKeyString());
        }
    }

    private async Task WriteAsync(Account? account)
    {
        var version = Math.Max(state.State.LastVersion, state.State.Account?.Version ?? 0) + 1;
        state.State.Account = account is null ? null : account with { Version = version };
        state.State.LastVersion = version;
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
