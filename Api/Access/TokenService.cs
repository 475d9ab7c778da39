using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Registry.Grains;

namespace Registry.Api.Access;

/// <summary>A token's verified content: who it was issued to and what it grants.</summary>
/// <remarks>
/// <paramref name="Kind"/> is the kind of credentials the subject proved at the token endpoint
/// (<see cref="IdentityKind.Token"/> when the token names none: issued before kinds were written).
/// <paramref name="Groups"/> are an external user's groups, from its ID token (null for others).
/// <paramref name="Fingerprint"/> stands for a robot's secret: a robot created again under the same name has another.
/// </remarks>
public sealed record TokenGrant(
    string Subject,
    IReadOnlyList<AccessItem> Access,
    DateTimeOffset Expires,
    IdentityKind Kind = IdentityKind.Token,
    IReadOnlyList<string>? Groups = null,
    string? Fingerprint = null)
{
    /// <summary>Whether the token grants every action of <paramref name="required"/>.</summary>
    public bool Covers(AccessItem required)
        => Access.Any(a => a.Type == required.Type && a.Name == required.Name && required.Actions.All(r => a.Actions.Contains(r, StringComparer.Ordinal)));
}

/// <summary>
/// Issues and verifies the registry's bearer tokens: ES256 JWTs signed with the cluster's key
/// (<see cref="ISigningKeysGrain"/>). Verification takes the key from our own key set by
/// <c>kid</c> only — a key carried in the token (<c>jwk</c>, <c>x5c</c>) is never used — then
/// checks the signature, issuer, audience and lifetime with 60 s leeway.
/// </summary>
public sealed class TokenService(IGrainFactory grains, IOptions<AccessOptions> options, TimeProvider time)
{
    private const string Algorithm = SecurityAlgorithms.EcdsaSha256;
    private const string FingerprintClaim = "pwd";
    private const string KindClaim = "kind";
    private const string GroupsClaim = "groups";
    private const string CredentialClaim = "cfp";
    private static readonly TimeSpan KeyRefresh = TimeSpan.FromSeconds(30);
    private readonly JsonWebTokenHandler _handler = new() { SetDefaultTimesOnTokenCreation = false };
    private readonly AccessOptions _options = options.Value;
    private readonly MemoryCache _verified = new(new MemoryCacheOptions { SizeLimit = 16 * 1024 * 1024 });
    private volatile Keys? _keys;
    private long _lastMissRefresh;

    /// <summary>
    /// A signed token for <paramref name="identity"/> granting <paramref name="access"/>, and when
    /// it expires. Besides the grant it names the kind of the subject (an account, a robot, an
    /// external user), a robot's secret fingerprint and an external user's groups, so <c>/apis</c>
    /// can tell who it is without the credentials it was issued for (<see cref="SubjectIdentities"/>).
    /// </summary>
    public async Task<(string Token, DateTimeOffset IssuedAt, TimeSpan Lifetime)> IssueAsync(Identity identity, IReadOnlyList<AccessItem> access)
    {
        var now = time.GetUtcNow();
        var claims = new Dictionary<string, object>
        {
            ["access"] = access.Select(a => new Dictionary<string, object> { ["type"] = a.Type, ["name"] = a.Name, ["actions"] = a.Actions.ToArray() }).ToList(),
        };
        if (KindName(identity.Kind) is { } kind)
        {
            claims[KindClaim] = kind;
        }

        if (identity.Kind == IdentityKind.Robot && identity.Fingerprint is { } fingerprint)
        {
            claims[CredentialClaim] = fingerprint;
        }

        if (identity.Kind == IdentityKind.External)
        {
            claims[GroupsClaim] = identity.Groups.Where(g => !BuiltInGroups.IsReserved(g)).ToArray();
        }

        return (await SignAsync(_options.Service, now, _options.TokenLifetime, identity.Name, claims), now, _options.TokenLifetime);
    }

    /// <summary>
    /// The grant of a token verified before and not yet expired, or null. A verified token is
    /// remembered until it expires: a client sends the same token for minutes, so the hot path is
    /// one lookup, before any parsing.
    /// </summary>
    public TokenGrant? Remembered(string token)
        => _verified.TryGetValue(token, out TokenGrant? known) && known!.Expires > time.GetUtcNow().AddSeconds(-60) ? known : null;

    /// <summary>The token's grant, or null when it is not a valid token of ours.</summary>
    public async ValueTask<TokenGrant?> VerifyAsync(string token)
    {
        if (Remembered(token) is { } known)
        {
            return known;
        }

        if (await ValidateAsync(token, _options.Service) is not { } jwt || ReadAccess(jwt) is not { } access)
        {
            return null;
        }

        var kind = jwt.TryGetPayloadValue<string>(KindClaim, out var named) ? KindOf(named) : IdentityKind.Token;
        var groups = kind == IdentityKind.External ? ReadStrings(jwt, GroupsClaim) : null;
        var fingerprint = kind == IdentityKind.Robot && jwt.TryGetPayloadValue<string>(CredentialClaim, out var credential) ? credential : null;
        var grant = new TokenGrant(jwt.Subject ?? "", access, new DateTimeOffset(jwt.ValidTo, TimeSpan.Zero), kind, groups, fingerprint);
        _verified.Set(token, grant, new MemoryCacheEntryOptions { AbsoluteExpiration = grant.Expires, Size = token.Length });
        return grant;
    }

    /// <summary>
    /// A refresh token (<c>offline_token</c>): it names the account and a fingerprint of its
    /// password hash, so a new password ends it; its audience differs from access tokens', so
    /// neither kind passes for the other.
    /// </summary>
    public Task<string> IssueRefreshAsync(string subject, string fingerprint)
        => SignAsync(RefreshAudience, time.GetUtcNow(), _options.RefreshTokenLifetime, subject, new Dictionary<string, object> { [FingerprintClaim] = fingerprint });

    /// <summary>A JWT of ours: issuer, audience, lifetime from <paramref name="now"/>, subject, a fresh jti and the claims of its kind.</summary>
    private async Task<string> SignAsync(string audience, DateTimeOffset now, TimeSpan lifetime, string subject, Dictionary<string, object> claims)
    {
        var keys = await GetKeysAsync(refresh: false);
        claims[JwtRegisteredClaimNames.Sub] = subject;
        claims[JwtRegisteredClaimNames.Jti] = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        return _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = _options.Issuer,
            Audience = audience,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = (now + lifetime).UtcDateTime,
            SigningCredentials = new SigningCredentials(keys.Signing, Algorithm),
            Claims = claims,
        });
    }

    /// <summary>The account and password fingerprint a refresh token names, or null when it is not a valid refresh token of ours.</summary>
    public async Task<(string Subject, string Fingerprint)?> VerifyRefreshAsync(string token)
        => await ValidateAsync(token, RefreshAudience) is { Subject: { Length: > 0 } subject } jwt && jwt.TryGetPayloadValue<string>(FingerprintClaim, out var fingerprint)
            ? (subject, fingerprint)
            : null;

    private string RefreshAudience => _options.Service + "/refresh";

    private async Task<JsonWebToken?> ValidateAsync(string token, string audience)
    {
        var keys = await GetKeysAsync(refresh: false);
        var result = await _handler.ValidateTokenAsync(token, Parameters(keys, audience));
        if (!result.IsValid && result.Exception is SecurityTokenSignatureKeyNotFoundException && TakeMissRefresh())
        {
            // Signed by a key another replica made since we last looked (a rotation).
            keys = await GetKeysAsync(refresh: true);
            result = await _handler.ValidateTokenAsync(token, Parameters(keys, audience));
        }

        return result.IsValid ? result.SecurityToken as JsonWebToken : null;
    }

    private TokenValidationParameters Parameters(Keys keys, string audience) => new()
    {
        ValidAlgorithms = [Algorithm],
        ValidIssuer = _options.Issuer,
        ValidAudience = audience,
        ClockSkew = TimeSpan.FromSeconds(60),
        RequireExpirationTime = true,
        RequireSignedTokens = true,
        TryAllIssuerSigningKeys = false,
        IssuerSigningKeyResolver = (_, _, kid, _) => kid is not null && keys.Verifying.TryGetValue(kid, out var key) ? [key] : [],
    };

    private static List<AccessItem>? ReadAccess(JsonWebToken jwt)
    {
        if (!jwt.TryGetPayloadValue<JsonElement>("access", out var access) || access.ValueKind != JsonValueKind.Array)
        {
            return access.ValueKind == JsonValueKind.Undefined ? [] : null;
        }

        var items = new List<AccessItem>();
        foreach (var item in access.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object
                || !item.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String
                || !item.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String
                || !item.TryGetProperty("actions", out var actions) || actions.ValueKind != JsonValueKind.Array)
            {
                return null;
            }

            items.Add(new AccessItem(type.GetString()!, name.GetString()!, [.. actions.EnumerateArray().Where(a => a.ValueKind == JsonValueKind.String).Select(a => a.GetString()!)]));
        }

        return items;
    }

    /// <summary>The <c>kind</c> claim of a subject's kind; null for anonymous (its token needs none).</summary>
    private static string? KindName(IdentityKind kind) => kind switch
    {
        IdentityKind.User => "user",
        IdentityKind.Robot => "robot",
        IdentityKind.External => "oidc",
        _ => null,
    };

    /// <summary>The kind a <c>kind</c> claim names; an unknown one is <see cref="IdentityKind.Token"/>, which <c>/apis</c> refuses.</summary>
    private static IdentityKind KindOf(string? name) => name switch
    {
        "user" => IdentityKind.User,
        "robot" => IdentityKind.Robot,
        "oidc" => IdentityKind.External,
        _ => IdentityKind.Token,
    };

    private static List<string> ReadStrings(JsonWebToken jwt, string claim)
        => jwt.TryGetPayloadValue<JsonElement>(claim, out var values) && values.ValueKind == JsonValueKind.Array
            ? [.. values.EnumerateArray().Where(v => v.ValueKind == JsonValueKind.String).Select(v => v.GetString()!)]
            : [];

    /// <summary>At most one refresh a second for unknown key ids: a flood of forged kids costs one grain call a second.</summary>
    private bool TakeMissRefresh()
    {
        var now = time.GetTimestamp();
        var last = Interlocked.Read(ref _lastMissRefresh);
        return time.GetElapsedTime(last, now) >= TimeSpan.FromSeconds(1) && Interlocked.CompareExchange(ref _lastMissRefresh, now, last) == last;
    }

    private async ValueTask<Keys> GetKeysAsync(bool refresh)
    {
        if (_keys is { } keys && !refresh && keys.Age(time) < KeyRefresh)
        {
            return keys;
        }

        var set = await grains.GetGrain<ISigningKeysGrain>(0).Get();
        return _keys = Keys.From(set, time.GetUtcNow());
    }

    /// <summary>The key set as security keys: the signing one and every one that verifies, by kid.</summary>
    private sealed record Keys(ECDsaSecurityKey Signing, Dictionary<string, ECDsaSecurityKey> Verifying, DateTimeOffset FetchedAt)
    {
        public TimeSpan Age(TimeProvider time) => time.GetUtcNow() - FetchedAt;

        public static Keys From(SigningKeySet set, DateTimeOffset now)
        {
            var verifying = set.Retired.Prepend(set.Current).ToDictionary(k => k.KeyId, ToSecurityKey, StringComparer.Ordinal);
            return new Keys(verifying[set.Current.KeyId], verifying, now);
        }

        private static ECDsaSecurityKey ToSecurityKey(SigningKey key)
        {
            var ecdsa = ECDsa.Create();
            ecdsa.ImportPkcs8PrivateKey(key.PrivateKey, out _);
            return new ECDsaSecurityKey(ecdsa) { KeyId = key.KeyId };
        }
    }
}
