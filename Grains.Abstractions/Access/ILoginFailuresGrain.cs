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

/// <summary>A partition the cluster refuses logins of, and for how long from the answer.</summary>
[GenerateSerializer, Immutable, Alias("registry.login-refusal")]
public sealed record LoginRefusal([property: Id(0)] string Partition, [property: Id(1)] TimeSpan Left);

/// <summary>The refusals announced after <see cref="Sequence"/> (or all in force, when the caller was behind or the epoch changed).</summary>
[GenerateSerializer, Immutable, Alias("registry.login-refusals")]
public sealed record LoginRefusals([property: Id(0)] Guid Epoch, [property: Id(1)] long Sequence, [property: Id(2)] IReadOnlyList<LoginRefusal> Refusals);

/// <summary>
/// The cluster's recent login refusals (key 0), in memory: a partition's count announces here when
/// it starts refusing, and every HTTP process polls it, so a refusal bites also at a replica that
/// saw none of the failures.
/// </summary>
[Alias("registry.login-refusals-grain")]
public interface ILoginRefusalsGrain : IGrainWithIntegerKey
{
    [Alias("refused")]
    Task Refused(string partition, TimeSpan left);

    [ReadOnly, Alias("since")]
    Task<LoginRefusals> Since(Guid epoch, long sequence);
}
