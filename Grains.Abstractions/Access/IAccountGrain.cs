using Orleans.Concurrency;

namespace Registry.Grains;

/// <summary>
/// A user account: what a login is checked against. The password arrives already hashed (bcrypt
/// runs in the HTTP process, off the grain's turn); the grain never sees a secret.
/// </summary>
/// <remarks><paramref name="Version"/> counts the account's writes: the management API's <c>resourceVersion</c>.</remarks>
[GenerateSerializer, Immutable, Alias("registry.account-record")]
public sealed record Account(
    [property: Id(0)] string Name,
    [property: Id(1)] string PasswordHash,
    [property: Id(2)] IReadOnlyList<string> Groups,
    [property: Id(3)] bool IsAdmin,
    [property: Id(4)] DateTimeOffset CreatedAt,
    [property: Id(5)] long Version = 1);

/// <summary>A change to an account: null fields stay as they are; <see cref="ExpectedVersion"/>, when set, must match the stored version.</summary>
[GenerateSerializer, Immutable, Alias("registry.account-update")]
public sealed record AccountUpdate(
    [property: Id(0)] long? ExpectedVersion,
    [property: Id(1)] string? PasswordHash,
    [property: Id(2)] IReadOnlyList<string>? Groups,
    [property: Id(3)] bool? IsAdmin);

[GenerateSerializer, Alias("registry.account-outcome")]
public enum AccountOutcome
{
    Done,
    NotFound,
    Conflict,
}

/// <summary>What an update did, and the account as it is afterwards.</summary>
[GenerateSerializer, Immutable, Alias("registry.account-result")]
public sealed record AccountResult([property: Id(0)] AccountOutcome Outcome, [property: Id(1)] Account? Account);

/// <summary>One account, keyed by its name.</summary>
[Alias("registry.account")]
public interface IAccountGrain : IGrainWithStringKey
{
    /// <summary>The account, or null when there is none (never created, or deleted).</summary>
    [ReadOnly, Alias("get")]
    ValueTask<Account?> Get();

    /// <summary>Creates the account (and lists it in the <see cref="IAccountDirectoryGrain"/>); false (and nothing changed) when it exists already.</summary>
    [Alias("create")]
    Task<bool> Create(string passwordHash, IReadOnlyList<string> groups, bool isAdmin);

    /// <summary>Replaces the password hash; false when there is no account.</summary>
    [Alias("set-password")]
    Task<bool> SetPassword(string passwordHash);

    /// <summary>Changes password, groups or admin flag, if the version still matches.</summary>
    [Alias("update")]
    Task<AccountResult> Update(AccountUpdate update);

    /// <summary>Removes the account; logins with it fail from the next request on.</summary>
    [Alias("delete")]
    Task Delete();
}

/// <summary>The names of all accounts (key 0), so they can be listed; each account stays in its own grain.</summary>
[Alias("registry.account-directory")]
public interface IAccountDirectoryGrain : IGrainWithIntegerKey
{
    [Alias("add")]
    Task Add(string name);

    [Alias("remove")]
    Task Remove(string name);

    /// <summary>Up to <paramref name="limit"/> names after <paramref name="after"/> (ordinal order), and whether more follow.</summary>
    [ReadOnly, Alias("list")]
    ValueTask<(IReadOnlyList<string> Names, bool More)> List(string? after, int limit);
}
