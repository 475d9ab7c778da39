using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Registry.Api.Access;

/// <summary>Access control, section <c>Registry:Access</c>.</summary>
public sealed partial class AccessOptions : IValidatableObject
{
    public const string Section = "Registry:Access";

    /// <summary>Whether requests are authenticated and authorized.</summary>
    public bool Enabled { get; set; }

    /// <summary>The token service's name: the <c>service</c> of challenges and the <c>aud</c> of tokens.</summary>
    public string Service { get; set; } = "orleans-registry";

    /// <summary>The <c>iss</c> of the registry's tokens.</summary>
    public string Issuer { get; set; } = "orleans-registry";

    /// <summary>The token endpoint clients are sent to; empty: <c>&lt;scheme&gt;://&lt;host&gt;/auth/token</c> of the request.</summary>
    public string Realm { get; set; } = "";

    /// <summary>How long a token lives (at least 60 s, as clients assume).</summary>
    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a refresh token (<c>offline_token</c>) lives; a new password ends it sooner.</summary>
    public TimeSpan RefreshTokenLifetime { get; set; } = TimeSpan.FromDays(7);

    /// <summary>The password of the <c>admin</c> account created at the first start; empty: one is generated into <c>&lt;data&gt;/admin-password</c>.</summary>
    public string AdminPassword { get; set; } = "";

    /// <summary>How long a successful password check is remembered for the same account and password hash.</summary>
    public TimeSpan CredentialCacheTime { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Whether a first push into a namespace that does not exist creates it, for a pusher who may create namespaces (who becomes its admin).</summary>
    public bool CreateNamespaceOnPush { get; set; }

    /// <summary>How often each process asks which access policies changed; a change is enforced everywhere about this long after it is made.</summary>
    public TimeSpan PolicyRefreshInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (TokenLifetime < TimeSpan.FromSeconds(60) || TokenLifetime > TimeSpan.FromHours(24))
        {
            yield return new ValidationResult($"{Section}:TokenLifetime {TokenLifetime} must be between 00:01:00 and 1.00:00:00 (clients assume at least 60 s).");
        }

        if (RefreshTokenLifetime < TimeSpan.FromMinutes(5) || RefreshTokenLifetime > TimeSpan.FromDays(90))
        {
            yield return new ValidationResult($"{Section}:RefreshTokenLifetime {RefreshTokenLifetime} must be between 00:05:00 and 90.00:00:00.");
        }

        if (string.IsNullOrWhiteSpace(Service) || string.IsNullOrWhiteSpace(Issuer))
        {
            yield return new ValidationResult($"{Section}:Service and {Section}:Issuer must not be empty.");
        }

        if (Realm.Length > 0 && !(Uri.TryCreate(Realm, UriKind.Absolute, out var realm) && realm.Scheme is "http" or "https"))
        {
            yield return new ValidationResult($"{Section}:Realm '{Realm}' is not an absolute http(s) URL: use e.g. https://registry.example/auth/token, or leave it empty.");
        }

        if (PolicyRefreshInterval < TimeSpan.FromMilliseconds(50) || PolicyRefreshInterval > TimeSpan.FromSeconds(10))
        {
            yield return new ValidationResult($"{Section}:PolicyRefreshInterval {PolicyRefreshInterval} must be between 00:00:00.05 and 00:00:10 (a policy change takes about this long to reach every replica).");
        }

        if (CredentialCacheTime < TimeSpan.Zero || CredentialCacheTime > TimeSpan.FromHours(1))
        {
            yield return new ValidationResult($"{Section}:CredentialCacheTime {CredentialCacheTime} must be between 0 and 01:00:00.");
        }

        foreach (var result in ValidateEnforcement())
        {
            yield return result;
        }
    }
}

[OptionsValidator]
public sealed partial class AccessOptionsValidator : IValidateOptions<AccessOptions>;
