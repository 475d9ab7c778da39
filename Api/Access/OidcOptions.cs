using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace Registry.Api.Access;

/// <summary>
/// An external issuer of bearer tokens (OIDC ID tokens, or any JWT signed with a published key
/// set), section <c>Registry:Access:Oidc</c>. Off while <see cref="Issuer"/> is empty.
/// </summary>
public sealed class OidcOptions : IValidatableObject
{
    public const string Section = "Registry:Access:Oidc";

    /// <summary>The algorithms a token may be signed with: asymmetric ones only (never <c>none</c> or HMAC, whose key would be public).</summary>
    public static readonly string[] AllowedAlgorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"];

    /// <summary>The <c>iss</c> tokens must carry, e.g. <c>https://login.example.com/realms/dev</c>.</summary>
    public string Issuer { get; set; } = "";

    /// <summary>The <c>aud</c> tokens must carry (the client id the registry was registered with).</summary>
    public string Audience { get; set; } = "";

    /// <summary>Where the issuer publishes its keys (a JWKS document); or <see cref="JwksFile"/>.</summary>
    public string JwksUrl { get; set; } = "";

    /// <summary>A JWKS document on disk, for issuers the registry cannot reach.</summary>
    public string JwksFile { get; set; } = "";

    /// <summary>The claim that names the user.</summary>
    public string UsernameClaim { get; set; } = "sub";

    /// <summary>The claim that lists the user's groups (an array of strings, or one string).</summary>
    public string GroupsClaim { get; set; } = "groups";

    /// <summary>
    /// Put before every external user name, so none can pass for a registry account (whose names
    /// hold no <c>:</c>). <c>-</c> for none: only when the issuer's names cannot collide with accounts.
    /// </summary>
    public string UsernamePrefix { get; set; } = "oidc:";

    /// <summary>The algorithms accepted, from <see cref="AllowedAlgorithms"/>; empty: RS256 and ES256.</summary>
    /// <remarks>Empty by default: the configuration binder appends to a non-empty default array instead of replacing it.</remarks>
    public string[] Algorithms { get; set; } = [];

    public string[] EffectiveAlgorithms => Algorithms.Length > 0 ? Algorithms : ["RS256", "ES256"];

    /// <summary>How long fetched keys are used before they are fetched again.</summary>
    public TimeSpan JwksCacheTime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The least time between two fetches caused by a token with an unknown <c>kid</c> (a key rotation, or a flood of forged ones).</summary>
    public TimeSpan JwksMissRefresh { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long one fetch of the key set may take.</summary>
    public TimeSpan JwksTimeout { get; set; } = TimeSpan.FromSeconds(10);

    public bool Enabled => Issuer.Length > 0;

    /// <summary>The prefix as applied (<c>-</c> means none).</summary>
    public string EffectivePrefix => UsernamePrefix == "-" ? "" : UsernamePrefix;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!Enabled)
        {
            yield break;
        }

        if (!Uri.TryCreate(Issuer, UriKind.Absolute, out _))
        {
            yield return new ValidationResult($"{Section}:Issuer '{Issuer}' must be the issuer's URL exactly as its tokens' 'iss' claim holds it, e.g. https://login.example.com/realms/dev.");
        }

        if (string.IsNullOrWhiteSpace(Audience))
        {
            yield return new ValidationResult($"{Section}:Audience must be set: the client id the registry is registered with at the issuer (the tokens' 'aud').");
        }

        if ((JwksUrl.Length > 0) == (JwksFile.Length > 0))
        {
            yield return new ValidationResult($"{Section}: set exactly one of JwksUrl (e.g. the issuer's jwks_uri) and JwksFile (a JWKS document on disk).");
        }
        else if (JwksUrl.Length > 0 && !IsSafeUrl(JwksUrl))
        {
            yield return new ValidationResult($"{Section}:JwksUrl '{JwksUrl}' must be an absolute https URL (http only on a loopback address).");
        }
        else if (JwksFile.Length > 0 && ReadFileError(JwksFile) is { } error)
        {
            yield return new ValidationResult($"{Section}:JwksFile '{JwksFile}' {error}.");
        }

        if (string.IsNullOrWhiteSpace(UsernameClaim) || string.IsNullOrWhiteSpace(GroupsClaim))
        {
            yield return new ValidationResult($"{Section}:UsernameClaim and GroupsClaim must not be empty (defaults: sub and groups).");
        }

        if (UsernamePrefix.Length > 64)
        {
            yield return new ValidationResult($"{Section}:UsernamePrefix is longer than 64 characters.");
        }

        if (Algorithms.Any(a => !AllowedAlgorithms.Contains(a, StringComparer.Ordinal)))
        {
            yield return new ValidationResult($"{Section}:Algorithms [{string.Join(", ", Algorithms)}] must be a subset of {string.Join(", ", AllowedAlgorithms)} (none and HMAC are never accepted).");
        }

        if (JwksCacheTime < TimeSpan.FromMinutes(1) || JwksMissRefresh < TimeSpan.FromSeconds(1) || JwksTimeout <= TimeSpan.Zero || JwksTimeout > TimeSpan.FromMinutes(1))
        {
            yield return new ValidationResult($"{Section}: JwksCacheTime must be at least 00:01:00, JwksMissRefresh at least 00:00:01, and JwksTimeout between 0 and 00:01:00.");
        }
    }

    private static bool IsSafeUrl(string url)
        => Uri.TryCreate(url, UriKind.Absolute, out var uri)
            && (uri.Scheme == Uri.UriSchemeHttps || (uri.Scheme == Uri.UriSchemeHttp && (uri.IsLoopback || (IPAddress.TryParse(uri.Host, out var ip) && IPAddress.IsLoopback(ip)))));

    private static string? ReadFileError(string path)
    {
        try
        {
            return new JsonWebKeySet(File.ReadAllText(path)).Keys.Count == 0 ? "holds no keys" : null;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return $"cannot be read as a JWKS document ({e.Message})";
        }
    }
}

[OptionsValidator]
public sealed partial class OidcOptionsValidator : IValidateOptions<OidcOptions>;
