using System.Net;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace Registry.Api.Access;

/// <summary>
/// Limits failed logins (Basic credentials, the token endpoint's password and refresh grants) per
/// account and per client address: after <see cref="FailedLoginOptions.PerAccount"/> or
/// <see cref="FailedLoginOptions.PerAddress"/> failures within the window, every login of that
/// account or from that address is answered 429 until the window ends, right password or not.
/// </summary>
/// <remarks>
/// Built on the fixed-window limiters of System.Threading.RateLimiting, which ASP.NET Core's
/// rate-limiting middleware uses too; the middleware itself takes a permit for every request,
/// while only failures may count here (successful logins are never limited), so a failure takes
/// the permit and a login first asks whether any are left (a zero-permit acquire). Idle
/// partitions are dropped by the partitioned limiter, so memory follows the active attackers.
/// </remarks>
public sealed class LoginThrottle : IDisposable
{
    private readonly PartitionedRateLimiter<string> _accounts;
    private readonly PartitionedRateLimiter<string> _addresses;

    public LoginThrottle(IOptions<AccessOptions> options)
    {
        var limits = options.Value.FailedLogins;
        _accounts = Limiter(limits.PerAccount, limits.Window);
        _addresses = Limiter(limits.PerAddress, limits.Window);
    }

    /// <summary>How long logins of <paramref name="account"/> or from <paramref name="address"/> must wait; null when they may try now.</summary>
    public TimeSpan? RetryAfter(string? account, IPAddress? address)
    {
        using var byAddress = _addresses.AttemptAcquire(AddressKey(address), 0);
        if (!byAddress.IsAcquired)
        {
            return Wait(byAddress);
        }

        if (account is { Length: > 0 })
        {
            using var byAccount = _accounts.AttemptAcquire(account, 0);
            if (!byAccount.IsAcquired)
            {
                return Wait(byAccount);
            }
        }

        return null;
    }

    /// <summary>Counts a failed login against the account (when one was named) and the address.</summary>
    public void Failed(string? account, IPAddress? address)
    {
        _addresses.AttemptAcquire(AddressKey(address)).Dispose();
        if (account is { Length: > 0 and <= 256 })
        {
            _accounts.AttemptAcquire(account).Dispose();
        }
    }

    public void Dispose()
    {
        _accounts.Dispose();
        _addresses.Dispose();
    }

    /// <summary>The Retry-After value: whole seconds, at least one.</summary>
    public static string Seconds(TimeSpan wait) => Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static TimeSpan Wait(RateLimitLease lease) => lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromSeconds(1);

    /// <summary>IPv6 clients are counted by their /64, which one client usually holds whole.</summary>
    private static string AddressKey(IPAddress? address)
    {
        if (address is null)
        {
            return "";
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4().ToString();
        }

        if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            var bytes = address.GetAddressBytes();
            Array.Clear(bytes, 8, 8);
            return new IPAddress(bytes).ToString();
        }

        return address.ToString();
    }

    private static PartitionedRateLimiter<string> Limiter(int permits, TimeSpan window)
        => PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetFixedWindowLimiter(key, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = permits,
            Window = window,
            QueueLimit = 0,
            AutoReplenishment = true,
        }));
}
