using System.Diagnostics.Metrics;
using System.Net;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Registry.Grains;

namespace Registry.Api.Access;

/// <summary>
/// Limits failed logins (Basic credentials, the token endpoint's password and refresh grants) per
/// account and per client address across the cluster: after <see cref="FailedLoginOptions.PerAccount"/>
/// or <see cref="FailedLoginOptions.PerAddress"/> failures within the window, every login of that
/// account or from that address is answered 429 until the window ends, right password or not.
/// </summary>
/// <remarks>
/// Two gates. The first is local: the fixed-window limiters of System.Threading.RateLimiting
/// (which ASP.NET Core's rate-limiting middleware uses too; the middleware takes a permit for
/// every request, while only failures may count here, so a failure takes the permit and a login
/// first asks whether any are left with a zero-permit acquire). It stops a flood at one replica
/// without a grain call, and idle partitions are dropped by the partitioned limiter.
/// The second is the cluster's count (<see cref="ILoginFailuresGrain"/>, one per partition): every
/// failure is reported there, and the answer says whether the partition is now refused and for
/// how long, which this replica then remembers, so later attempts are refused without a call.
/// A replica asks the grain before checking a password only for partitions it saw fail within the
/// window, and never for credentials it verified lately (a cached Basic login), so a login that
/// is not under attack costs no grain call. A replica that saw no failure of a partition learns of
/// its refusal from <see cref="LoginRefusalFeed"/> within half a second, or from the report of
/// its own next failure, whichever comes first: that is the slack.
/// </remarks>
public sealed partial class LoginThrottle : IDisposable
{
    private const string AccountPrefix = "account:";

    private readonly PartitionedRateLimiter<string> _accounts;
    private readonly PartitionedRateLimiter<string> _addresses;
    private readonly FailedLoginOptions _limits;
    private readonly IGrainFactory _grains;
    private readonly ILogger<LoginThrottle> _logger;
    private readonly Counter<long> _calls;

    // Partitions this replica saw fail within the window (null), or that the cluster refuses (until when).
    private readonly MemoryCache _seen = new(new MemoryCacheOptions { SizeLimit = 100_000 });
    private long _callCount;

    public LoginThrottle(IOptions<AccessOptions> options, IGrainFactory grains, RegistryMeter meter, ILogger<LoginThrottle> logger)
    {
        _limits = options.Value.FailedLogins;
        _accounts = Limiter(_limits.PerAccount, _limits.Window);
        _addresses = Limiter(_limits.PerAddress, _limits.Window);
        _grains = grains;
        _logger = logger;
        _calls = meter.Meter.CreateCounter<long>("registry.access.login_limit_calls", "{call}", "Calls to the cluster's failed-login counts: a report per failed login and partition, a check before a password check of a partition that failed here lately.");
    }

    /// <summary>Calls this replica made to the cluster's failed-login counts (also the counter <c>registry.access.login_limit_calls</c>).</summary>
    public long GrainCalls => Interlocked.Read(ref _callCount);

    /// <summary>
    /// How long logins of <paramref name="account"/> or from <paramref name="address"/> must wait;
    /// null when they may try now. <paramref name="remembered"/>: the credentials were verified lately
    /// (the cluster is not asked then, only this replica's limit and what it learnt applies).
    /// </summary>
    public async ValueTask<TimeSpan?> RetryAfterAsync(string? account, IPAddress? address, bool remembered)
    {
        var local = LocalRetryAfter(account, address);
        if (local is not null || remembered)
        {
            return local;
        }

        foreach (var key in Partitions(account, address))
        {
            if (_seen.TryGetValue(key, out _) && await AskAsync(key, report: false) is { } refused)
            {
                return refused;
            }
        }

        return null;
    }

    /// <summary>Counts a failed login against the account (when one was named) and the address, here and in the cluster.</summary>
    public async ValueTask FailedAsync(string? account, IPAddress? address)
    {
        _addresses.AttemptAcquire(AddressKey(address)).Dispose();
        if (account is { Length: > 0 and <= 256 })
        {
            _accounts.AttemptAcquire(account).Dispose();
        }

        await Task.WhenAll(Partitions(account, address).Select(key => AskAsync(key, report: true)));
    }

    /// <summary>Refuses logins of <paramref name="partition"/> (as the cluster's grains are keyed) here for <paramref name="wait"/>.</summary>
    public void Refuse(string partition, TimeSpan wait)
    {
        if (wait > TimeSpan.Zero)
        {
            _seen.Set(partition, new Mark(DateTimeOffset.UtcNow + wait), new MemoryCacheEntryOptions { AbsoluteExpirationRelativeToNow = wait, Size = 1 });
        }
    }

    public void Dispose()
    {
        _accounts.Dispose();
        _addresses.Dispose();
        _seen.Dispose();
    }

    /// <summary>The Retry-After value: whole seconds, at least one.</summary>
    public static string Seconds(TimeSpan wait) => Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>This replica's answer alone: its own limiters, and the refusals it learnt from the cluster.</summary>
    private TimeSpan? LocalRetryAfter(string? account, IPAddress? address)
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

        var now = DateTimeOffset.UtcNow;
        foreach (var key in Partitions(account, address))
        {
            if (_seen.TryGetValue(key, out Mark? mark) && mark?.RefusedUntil > now)
            {
                return mark.RefusedUntil - now;
            }
        }

        return null;
    }

    /// <summary>Reports a failure of the partition <paramref name="key"/> to the cluster, or asks whether it is refused; remembers a refusal.</summary>
    private async Task<TimeSpan?> AskAsync(string key, bool report)
    {
        Interlocked.Increment(ref _callCount);
        _calls.Add(1);
        TimeSpan? refused;
        try
        {
            var grain = _grains.GetGrain<ILoginFailuresGrain>(key);
            var limit = key.StartsWith(AccountPrefix, StringComparison.Ordinal) ? _limits.PerAccount : _limits.PerAddress;
            refused = report ? await grain.Failed(limit, _limits.Window) : await grain.RetryAfter();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A rate limit fails open: without the cluster's count, this replica's own limit still holds.
            ClusterCountFailed(_logger, e, key);
            return null;
        }

        if (refused is { } wait)
        {
            Refuse(key, wait);
        }
        else if (report)
        {
            _seen.Set(key, Mark.Seen, new MemoryCacheEntryOptions { AbsoluteExpirationRelativeToNow = _limits.Window, Size = 1 });
        }

        return refused;
    }

    /// <summary>The partitions of a login, as the cluster's grains are keyed: its address, and its account when one was named.</summary>
    private static IEnumerable<string> Partitions(string? account, IPAddress? address)
    {
        yield return "address:" + AddressKey(address);
        if (account is { Length: > 0 and <= 256 })
        {
            yield return AccountPrefix + account;
        }
    }

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

    [LoggerMessage(1, LogLevel.Warning, "Could not reach the cluster's failed-login count of {Partition}; this replica's own limit applies")]
    private static partial void ClusterCountFailed(ILogger logger, Exception exception, string partition);

    /// <summary>A partition this replica saw fail (<see cref="RefusedUntil"/> null), or one the cluster refuses until then.</summary>
    private sealed record Mark(DateTimeOffset? RefusedUntil)
    {
        public static readonly Mark Seen = new((DateTimeOffset?)null);
    }
}
