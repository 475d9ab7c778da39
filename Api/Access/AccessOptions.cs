using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Registry.Api.Access;

/// <summary>Access control, section <c>Registry:Access</c>.</summary>
public sealed partial class AccessOptions : IValidatableObject
{
    public const string Section = "Registry:Access";

    /// <summary>
    /// Whether requests are authenticated and authorized: on unless turned off, which only a
    /// registry listening on loopback alone may be (<see cref="OffSwitchFailure"/>).
    /// </summary>
    public bool Enabled { get; set; } = true;

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

    /// <summary>An htpasswd file (<c>user:hash</c> lines) whose bcrypt users are imported at start (<see cref="HtpasswdImport"/>); empty: none.</summary>
    public string HtpasswdFile { get; set; } = "";

    /// <summary>An external issuer of bearer tokens, <c>Registry:Access:Oidc</c> (validated by <see cref="OidcOptionsValidator"/>).</summary>
    public OidcOptions Oidc { get; set; } = new();

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

        if (HtpasswdFile.Length > 0 && !File.Exists(HtpasswdFile))
        {
            yield return new ValidationResult($"{Section}:HtpasswdFile '{HtpasswdFile}' does not exist: give the path of an htpasswd file (e.g. made with 'htpasswd -B'), or leave it empty.");
        }

        foreach (var result in ValidateEnforcement())
        {
            yield return result;
        }
    }

    /// <summary>
    /// Why access control may not be off with these listen addresses, or null: off is allowed only
    /// when every address is loopback (127.0.0.0/8, ::1, localhost), where only this machine can reach it.
    /// </summary>
    /// <param name="addresses">Every address the HTTP server binds (<c>Registry:Listen</c>, split at <c>;</c>, and Kestrel endpoints).</param>
    public string? OffSwitchFailure(IEnumerable<string> addresses)
    {
        if (Enabled)
        {
            return null;
        }

        var open = addresses.Where(a => !IsLoopback(a)).ToArray();
        return open.Length == 0
            ? null
            : $"{Section}:Enabled=false is allowed only when the registry listens on loopback alone (127.0.0.1, [::1], localhost), but it listens on {string.Join(", ", open)}: "
              + $"remove {Section}:Enabled=false (access control is on by default; log in as admin, see docs/security.md), or set Registry:Listen=http://127.0.0.1:5000.";
    }

    /// <summary>Whether a listen URL binds loopback only; a wildcard (<c>*</c>, <c>+</c>, 0.0.0.0, [::]) or any other host name binds every interface.</summary>
    public static bool IsLoopback(string address)
    {
        var uri = ApiOptions.ParseListen(address.Trim());
        return uri is not null && (string.Equals(uri.Host, "localhost", StringComparison.OrdinalIgnoreCase)
            || (System.Net.IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && System.Net.IPAddress.IsLoopback(ip)));
    }
}

[OptionsValidator]
public sealed partial class AccessOptionsValidator : IValidateOptions<AccessOptions>;
