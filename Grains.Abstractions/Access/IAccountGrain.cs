using Orleans.Concurrency;

namespace Registry.Grains;

/// <summary>
/// A user account: what a login is checked against. The password arrives already hashed (bcrypt
/// runs in the HTTP process, off the grain's turn); the grain never sees a secret.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.account-record")]
public sealed record Account(
    [property: Id(0)] string Name,
    [property: Id(1)] string PasswordHash,
    [property: Id(2)] IReadOnlyList<string> Groups,
    [property: Id(3)] bool IsAdmin,
    [property: Id(4)] DateTimeOffset CreatedAt);

/// <summary>One account, keyed by its name.</summary>
[Alias("registry.account")]
public interface IAccountGrain : IGrainWithStringKey
{
    /// <summary>The account, or null when there is none (never created, or deleted).</summary>
    [ReadOnly, Alias("get")]
    ValueTask<Account?> Get();

    /// <summary>Creates the account; false (and nothing changed) when it exists already.</summary>
    [Alias("create")]
    Task<bool> Create(string passwordHash, IReadOnlyList<string> groups, bool isAdmin);

    /// <summary>Replaces the password hash; false when there is no account.</summary>
    [Alias("set-password")]
    Task<bool> SetPassword(string passwordHash);

    /// <summary>Removes the account; logins with it fail from the next request on.</summary>
    [Alias("delete")]
    Task Delete();
}
