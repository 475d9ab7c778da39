using System.ComponentModel.DataAnnotations;

namespace Registry.Api.Access;

/// <summary>Who may read <c>/metrics</c> when access control is on.</summary>
public enum MetricsAccess
{
    /// <summary>Anyone: the metrics name routes and counts, never repositories or accounts, and in-cluster scrapers carry no credentials.</summary>
    Public,

    /// <summary>Any caller with valid credentials (Basic or a bearer token).</summary>
    Authenticated,

    /// <summary>Registry admins only.</summary>
    Admin,
}

/// <summary>
/// How access is enforced on the wire (settings of <c>Registry:Access</c>, kept in their own part
/// of the class): the failed-login limits, the caching of a token subject's identity on
/// <c>/apis</c>, <c>/metrics</c> access and the audit's volume bound.
/// </summary>
public sealed partial class AccessOptions
{
    /// <summary>Who may read <c>/metrics</c> (<c>Registry:Access:Metrics</c>).</summary>
    public MetricsAccess Metrics { get; set; } = MetricsAccess.Public;

    /// <summary>Failed logins allowed per account and per client address (<c>Registry:Access:FailedLogins</c>).</summary>
    public FailedLoginOptions FailedLogins { get; set; } = new();

    /// <summary>How long the account behind a bearer token's subject is remembered on <c>/apis</c>: a deleted account or a removed admin flag takes effect after at most this long.</summary>
    public TimeSpan IdentityCacheTime { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>At most this many denied attempts a second are written to the audit; the rest are counted only (a flood of refusals must not fill the disk).</summary>
    public int AuditDenialsPerSecond { get; set; } = 100;

    private IEnumerable<ValidationResult> ValidateEnforcement()
    {
        const string section = Section;
        if (!Enum.IsDefined(Metrics))
        {
            yield return new ValidationResult($"{section}:Metrics must be Public, Authenticated or Admin.");
        }

        if (FailedLogins.PerAccount is < 1 or > 10_000 || FailedLogins.PerAddress is < 1 or > 10_000)
        {
            yield return new ValidationResult($"{section}:FailedLogins:PerAccount ({FailedLogins.PerAccount}) and PerAddress ({FailedLogins.PerAddress}) must be between 1 and 10000 failures per window.");
        }

        if (FailedLogins.Window < TimeSpan.FromSeconds(1) || FailedLogins.Window > TimeSpan.FromHours(24))
        {
            yield return new ValidationResult($"{section}:FailedLogins:Window {FailedLogins.Window} must be between 00:00:01 and 1.00:00:00.");
        }

        if (IdentityCacheTime < TimeSpan.Zero || IdentityCacheTime > TimeSpan.FromMinutes(1))
        {
            yield return new ValidationResult($"{section}:IdentityCacheTime {IdentityCacheTime} must be between 0 and 00:01:00 (a deleted account keeps working on /apis for that long).");
        }

        if (AuditDenialsPerSecond is < 1 or > 100_000)
        {
            yield return new ValidationResult($"{section}:AuditDenialsPerSecond ({AuditDenialsPerSecond}) must be between 1 and 100000.");
        }
    }
}

/// <summary>After this many failed logins within the window, an account's or an address's logins answer 429 until the window ends.</summary>
public sealed class FailedLoginOptions
{
    public int PerAccount { get; set; } = 10;

    public int PerAddress { get; set; } = 30;

    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(1);
}
