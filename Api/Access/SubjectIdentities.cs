using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Registry.Grains;

namespace Registry.Api.Access;

/// <summary>
/// The current identity behind a token's subject (its account's groups and admin flag), for the
/// APIs that authorize by policy rather than by the token's grant. Remembered for
/// <see cref="AccessOptions.IdentityCacheTime"/> (10 s), so a client's requests cost no grain
/// call each, while a deleted account stops working within that time, well within a token's lifetime.
/// </summary>
public sealed class SubjectIdentities(IGrainFactory grains, IOptions<AccessOptions> options)
{
    private readonly MemoryCache _known = new(new MemoryCacheOptions { SizeLimit = 100_000 });
    private readonly TimeSpan _cacheTime = options.Value.IdentityCacheTime;

    /// <summary>The identity of <paramref name="subject"/>, or null when it has no account (any more).</summary>
    public async ValueTask<Identity?> ResolveAsync(string subject)
    {
        if (_known.TryGetValue(subject, out Identity? known))
        {
            return known;
        }

        var account = subject.Length is > 0 and <= 256 ? await grains.GetGrain<IAccountGrain>(subject).Get() : null;
        var identity = account is null ? null : new Identity(account.Name, [.. account.Groups, BuiltInGroups.Authenticated], account.IsAdmin, CredentialVerifier.Fingerprint(account));
        if (_cacheTime > TimeSpan.Zero)
        {
            _known.Set(subject, identity, new MemoryCacheEntryOptions { AbsoluteExpirationRelativeToNow = _cacheTime, Size = 1 });
        }

        return identity;
    }
}
