using System.Text.Json;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Registry.Api.Access;

/// <summary>
/// Verifies bearer tokens of the configured external issuer (<see cref="OidcOptions"/>): the key
/// comes from the issuer's key set by <c>kid</c> only — never from the token (<c>jwk</c>,
/// <c>x5c</c>) — and the algorithm from an allow-list of asymmetric ones; then the signature,
/// <c>iss</c>, <c>aud</c>, and <c>exp</c>/<c>nbf</c> with 60 s leeway. The key set is cached and
/// fetched again when a token names an unknown <c>kid</c>, at most every <see cref="OidcOptions.JwksMissRefresh"/>.
/// </summary>
public sealed partial class OidcVerifier(IOptions<OidcOptions> options, IHttpClientFactory http, TimeProvider time, ILogger<OidcVerifier> logger)
{
    public const string HttpClientName = "registry-oidc-jwks";
    private const int MaxTokenLength = 16 * 1024;
    private readonly OidcOptions _options = options.Value;
    private readonly JsonWebTokenHandler _handler = new();
    private readonly SemaphoreSlim _fetch = new(1, 1);
    private readonly Lock _missLock = new();
    private volatile KeySet? _keys;
    private DateTimeOffset _lastMissRefresh = DateTimeOffset.MinValue;

    public bool Enabled => _options.Enabled;

    /// <summary>Whether <paramref name="token"/> looks like a JWT of the configured issuer (read, not verified: only to route it here).</summary>
    public bool Claims(string token)
    {
        if (!Enabled || token.Length > MaxTokenLength || token.Count(c => c == '.') != 2 || !_handler.CanReadToken(token))
        {
            return false;
        }

        try
        {
            return new JsonWebToken(token).Issuer == _options.Issuer;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>The identity the token proves, or null.</summary>
    public async Task<Identity?> VerifyAsync(string token)
    {
        if (!Enabled || token.Length > MaxTokenLength)
        {
            return null;
        }

        var keys = await GetKeysAsync(stale: null);
        var result = await _handler.ValidateTokenAsync(token, Parameters(keys));
        if (!result.IsValid && result.Exception is SecurityTokenSignatureKeyNotFoundException && TakeMissRefresh())
        {
            // Signed with a key the issuer published since we last looked (a rotation).
            keys = await GetKeysAsync(stale: keys);
            result = await _handler.ValidateTokenAsync(token, Parameters(keys));
        }

        if (!result.IsValid || result.SecurityToken is not JsonWebToken jwt)
        {
            LogRejected(logger, result.Exception?.GetType().Name ?? "invalid");
            return null;
        }

        if (!jwt.TryGetPayloadValue<string>(_options.UsernameClaim, out var user) || string.IsNullOrWhiteSpace(user) || user.Length > 256)
        {
            LogRejected(logger, $"no '{_options.UsernameClaim}' claim");
            return null;
        }

        return new Identity(_options.EffectivePrefix + user, [.. Groups(jwt), BuiltInGroups.Authenticated], false, Kind: IdentityKind.External);
    }

    private TokenValidationParameters Parameters(KeySet keys) => new()
    {
        ValidAlgorithms = _options.EffectiveAlgorithms,
        ValidIssuer = _options.Issuer,
        ValidAudience = _options.Audience,
        ClockSkew = TimeSpan.FromSeconds(60),
        RequireExpirationTime = true,
        RequireSignedTokens = true,
        TryAllIssuerSigningKeys = false,
        IssuerSigningKeyResolver = (_, _, kid, _) => kid is not null && keys.ByKid.TryGetValue(kid, out var key) ? [key] : [],
    };

    /// <summary>The groups claim (an array of strings, or one string), without names reserved for the registry.</summary>
    private IEnumerable<string> Groups(JsonWebToken jwt)
    {
        // An array reads as a JsonElement; one string does not, and a string read of an array gives its JSON text.
        IEnumerable<string> groups = jwt.TryGetPayloadValue<JsonElement>(_options.GroupsClaim, out var claim)
            ? claim.ValueKind == JsonValueKind.Array ? claim.EnumerateArray().Where(g => g.ValueKind == JsonValueKind.String).Select(g => g.GetString()!) : []
            : jwt.TryGetPayloadValue<string>(_options.GroupsClaim, out var one) && one is not null ? [one] : [];
        return groups.Where(g => g.Length is > 0 and <= 256 && !BuiltInGroups.IsReserved(g)).Distinct(StringComparer.Ordinal).Take(256).ToList();
    }

    private bool TakeMissRefresh()
    {
        lock (_missLock)
        {
            var now = time.GetUtcNow();
            if (now - _lastMissRefresh < _options.JwksMissRefresh)
            {
                return false;
            }

            _lastMissRefresh = now;
            return true;
        }
    }

    /// <summary>The cached keys, or fetched ones when they are old or are <paramref name="stale"/> (the set a token's kid was missing from).</summary>
    private async ValueTask<KeySet> GetKeysAsync(KeySet? stale)
    {
        if (_keys is { } keys && stale is null && time.GetUtcNow() - keys.FetchedAt < _options.JwksCacheTime)
        {
            return keys;
        }

        await _fetch.WaitAsync();
        try
        {
            // Another caller fetched while this one waited: use its keys rather than fetch again.
            if (_keys is { } fresh && !ReferenceEquals(fresh, stale) && time.GetUtcNow() - fresh.FetchedAt < _options.JwksCacheTime)
            {
                return fresh;
            }

            // A failed fetch keeps the old keys and is retried after JwksMissRefresh, not on every request.
            var now = time.GetUtcNow();
            return _keys = await FetchAsync() ?? new KeySet(_keys?.ByKid ?? [], now - _options.JwksCacheTime + _options.JwksMissRefresh);
        }
        finally
        {
            _fetch.Release();
        }
    }

    /// <summary>The key set from the file or the URL; null (the old set stays) when it cannot be had.</summary>
    private async Task<KeySet?> FetchAsync()
    {
        var source = _options.JwksFile.Length > 0 ? _options.JwksFile : _options.JwksUrl;
        try
        {
            string json;
            if (_options.JwksFile.Length > 0)
            {
                json = await File.ReadAllTextAsync(_options.JwksFile);
            }
            else
            {
                using var timeout = new CancellationTokenSource(_options.JwksTimeout);
                json = await http.CreateClient(HttpClientName).GetStringAsync(_options.JwksUrl, timeout.Token);
            }

            var set = new JsonWebKeySet(json);
            var byKid = new Dictionary<string, SecurityKey>(StringComparer.Ordinal);
            foreach (var key in set.Keys.Where(k => k.Kid is { Length: > 0 } && k.Use is null or "sig" && k.Kty is "RSA" or "EC"))
            {
                byKid.TryAdd(key.Kid, key);
            }

            LogFetched(logger, byKid.Count, source);
            return new KeySet(byKid, time.GetUtcNow());
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogFetchFailed(logger, source, e.Message);
            return null;
        }
    }

    private sealed record KeySet(Dictionary<string, SecurityKey> ByKid, DateTimeOffset FetchedAt);

    [LoggerMessage(40, LogLevel.Information, "Fetched {Count} signing keys of the OIDC issuer from {Source}")]
    private static partial void LogFetched(ILogger logger, int count, string source);

    [LoggerMessage(41, LogLevel.Warning, "Could not fetch the OIDC issuer's signing keys from {Source}: {Reason}")]
    private static partial void LogFetchFailed(ILogger logger, string source, string reason);

    [LoggerMessage(42, LogLevel.Debug, "Refused an OIDC token: {Reason}")]
    private static partial void LogRejected(ILogger logger, string reason);
}
