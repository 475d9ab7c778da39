using Orleans.Concurrency;

namespace Registry.Grains;

/// <summary>
/// The failed logins of one partition across the cluster, keyed <c>account:&lt;name&gt;</c> or
/// <c>address:&lt;client address&gt;</c>: a fixed window that starts at the partition's first
/// failure. Every replica reports its failures here, so the limit holds for the cluster, not per
/// replica. The answers are how long logins of the partition are refused from now (null: not
/// refused), as a duration rather than an instant, so the replicas' clocks need not agree.
/// </summary>
[Alias("registry.login-failures")]
public interface ILoginFailuresGrain : IGrainWithStringKey
{
    /// <summary>Counts one failure; refused for the rest of the window once <paramref name="limit"/> failures fell within <paramref name="window"/>.</summary>
    [Alias("failed")]
    Task<TimeSpan?> Failed(int limit, TimeSpan window);

    /// <summary>How long logins of the partition are refused from now; null when they may try.</summary>
    [ReadOnly, Alias("retry-after")]
    Task<TimeSpan?> RetryAfter();
}
