using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Registry.Grains;

namespace Registry.Api.Access;

/// <summary>
/// The current identity behind one of our bearer tokens, for the APIs that authorize by policy
/// rather than by the token's grant. The token's <c>kind</c> says where to look, and nothing else
/// is tried, so a name never stands for a subject of another kind (an external user named like an
/// account is not that account; an account cannot be named like a robot):
/// <list type="bullet">
/// <item>an account: its groups and admin flag, remembered for <see cref="AccessOptions.IdentityCacheTime"/>
/// (10 s), so a client's requests cost no grain call each, while a deleted account stops working
/// within that time, well within a token's lifetime;</item>
/// <item>a robot: read on every request (an in-memory read of an active grain), so a revoked or
/// expired robot, or another robot created under its name, fails on the next request;</item>
/// <item>an external (OIDC) user: no account exists; its groups are those its ID token had when
/// the token was issued, carried in our signed token.</item>
/// </list>
/// A token without a kind (issued before kinds were written) is refused.
/// </summary>
public sealed class SubjectIdentities(IGrainFactory grains, IOptions<AccessOptions> options, TimeProvider time)
{
    private readonly MemoryCache _known = new(new MemoryCacheOptions { SizeLimit = 100_000 });
    private readonly TimeSpan _cacheTime = options.Value.IdentityCacheTime;
    private readonly bool _oidc = options.Value.Oidc.Enabled;

    /// <summary>The identity of the token's subject, or null when it no longer exists (or the token names no kind).</summary>
    public ValueTask<Identity?> ResolveAsync(TokenGrant token) => token.Kind switch
    {
        IdentityKind.User => AccountAsync(token.Subject),
        IdentityKind.Robot => new(RobotAsync(token.Subject, token.Fingerprint)),
        IdentityKind.External => new(External(token)),
        _ => new((Identity?)null),
    };

    private async ValueTask<Identity?> AccountAsync(string subject)
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

    private async Task<Identity?> RobotAsync(string login, string? fingerprint)
    {
        if (fingerprint is null || RobotSecret.ParseLogin(login) is not var (ns, name))
        {
            return null;
        }

        var robot = await grains.GetGrain<IRobotsGrain>(ns).Get(name);
        if (robot is null || robot.ExpiresAt <= time.GetUtcNow()
            || !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(RobotSecret.Fingerprint(robot.SecretHash)), Encoding.ASCII.GetBytes(fingerprint)))
        {
            return null;
        }

        return RobotVerifier.ToIdentity(ns, robot);
    }

    /// <summary>An external user as its token describes it; none once the OIDC issuer is no longer configured.</summary>
    private Identity? External(TokenGrant token)
        => _oidc && token.Subject.Length > 0
            ? new Identity(token.Subject, [.. (token.Groups ?? []).Where(g => !BuiltInGroups.IsReserved(g)), BuiltInGroups.Authenticated], false, Kind: IdentityKind.External)
            : null;
}
