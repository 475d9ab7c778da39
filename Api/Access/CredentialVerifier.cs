using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Registry.Grains;

namespace Registry.Api.Access;

/// <summary>
/// Checks Basic credentials (<c>/v2</c>, the token endpoint): a robot's login and secret, an ID
/// token of the configured issuer as the password (any user name: <c>skopeo --creds x:&lt;token&gt;</c>),
/// or a user name and password against the account's bcrypt hash. A password success is remembered
/// briefly under the account's current hash and a digest of the password, so a client that logs
/// in once and pushes 100 images pays one bcrypt check, while a changed password or a deleted
/// account takes effect on the next request (the account is read on every check).
/// </summary>
public sealed class CredentialVerifier(IGrainFactory grains, IOptions<AccessOptions> options, RobotVerifier robots, OidcVerifier oidc)
{
    // A hash of a password nobody has: unknown users cost a bcrypt check too, so timing tells nothing.
    private static readonly string DummyHash = BCrypt.Net.BCrypt.HashPassword(Convert.ToBase64String(RandomNumberGenerator.GetBytes(18)), PasswordHashing.WorkFactor);
    private readonly MemoryCache _verified = new(new MemoryCacheOptions { SizeLimit = 100_000 });
    private readonly TimeSpan _cacheTime = options.Value.CredentialCacheTime;

    /// <summary>The identity the credentials prove, or null.</summary>
    public async Task<Identity?> VerifyAsync(string user, string password)
    {
        if (user.Contains(RobotSecret.LoginSeparator, StringComparison.Ordinal))
        {
            return await robots.VerifyAsync(user, password);
        }

        if (oidc.Claims(password))
        {
            return await oidc.VerifyAsync(password);
        }

        if (user.Length is 0 or > 256 || password.Length > 1024)
        {
            return null;
        }

        var account = await grains.GetGrain<IAccountGrain>(user).Get();
        if (account is null)
        {
            BCrypt.Net.BCrypt.Verify(password, DummyHash);
            return null;
        }

        var key = CacheKey(user, password);
        if (!(_verified.TryGetValue(key, out string? verifiedAgainst) && verifiedAgainst == account.PasswordHash))
        {
            if (!await Task.Run(() => BCrypt.Net.BCrypt.Verify(password, account.PasswordHash)))
            {
                return null;
            }

            _verified.Set(key, account.PasswordHash, new MemoryCacheEntryOptions { AbsoluteExpirationRelativeToNow = _cacheTime, Size = 1 });
        }

        return ToIdentity(account);
    }

    /// <summary>The identity a refresh token names, when its account still exists with the same password.</summary>
    public async Task<Identity?> VerifyRefreshAsync(string user, string fingerprint)
    {
        var account = await grains.GetGrain<IAccountGrain>(user).Get();
        return account is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Fingerprint(account)), Encoding.ASCII.GetBytes(fingerprint))
            ? ToIdentity(account)
            : null;
    }

    /// <summary>Stands for the account's password in a refresh token: a new password changes it.</summary>
    public static string Fingerprint(Account account) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(account.PasswordHash)).AsSpan(0, 12));

    private static Identity ToIdentity(Account account) => new(account.Name, [.. account.Groups, BuiltInGroups.Authenticated], account.IsAdmin, Fingerprint(account), Kind: IdentityKind.User);

    /// <summary>
    /// Whether these credentials passed a password check here lately: a hint that needs no grain
    /// call (the failed-login limit asks the cluster only for credentials that did not), not a
    /// verification (<see cref="VerifyAsync"/> still reads the account and compares its hash).
    /// </summary>
    public bool Remembered(string user, string password) => _verified.TryGetValue(CacheKey(user, password), out _);

    /// <summary>
    /// The name and a digest of the secret, never the secret itself; the entry holds the hash the
    /// secret was verified against, so a new password misses it.
    /// </summary>
    private static string CacheKey(string user, string password)
        => string.Concat(user, "\n", Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(password))));
}

/// <summary>How passwords are hashed.</summary>
public static class PasswordHashing
{
    /// <summary>bcrypt's cost: 2^10 rounds, about 50 ms on one core.</summary>
    public const int WorkFactor = 10;

    public static string Hash(string password) => BCrypt.Net.BCrypt.HashPassword(password, WorkFactor);
}
