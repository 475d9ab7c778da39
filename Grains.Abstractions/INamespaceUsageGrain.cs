namespace Registry.Grains;

/// <summary>
/// The storage a namespace uses and the quota that bounds it (docs/quotas.md), keyed by the
/// namespace's name. It tracks every digest its repositories hold (links and manifests), each
/// counted once however many repositories hold it, and which repositories hold anything.
/// Repositories tell it of every digest they start or stop holding, one at a time per repository;
/// a digest new to the namespace is admitted only within the quota.
/// </summary>
[Alias("registry.namespace-usage")]
public interface INamespaceUsageGrain : IGrainWithStringKey
{
    /// <summary>
    /// Records that <paramref name="repository"/> holds <paramref name="digest"/>, unless that
    /// exceeds the quota (then the refusal, and nothing changes). Idempotent: a repeat is admitted.
    /// </summary>
    [RetryOnFailover]
    [Alias("admit")]
    Task<QuotaRefusal?> Admit(string repository, string digest, long size);

    /// <summary>What <see cref="Admit"/> would answer now, changing nothing (a push checks before it stores bytes).</summary>
    [RetryOnFailover]
    [Alias("check")]
    Task<QuotaRefusal?> Check(string repository, string digest, long size);

    /// <summary>Records that <paramref name="repository"/> no longer holds <paramref name="digest"/>; idempotent.</summary>
    [RetryOnFailover]
    [Alias("release")]
    Task Release(string repository, string digest);

    /// <summary>Records that <paramref name="repository"/> holds nothing any more (a whole repository deleted); idempotent.</summary>
    [RetryOnFailover]
    [Alias("release-repository")]
    Task ReleaseRepository(string repository);

    /// <summary>The quota (null limits when none is set), its version and the tracked usage.</summary>
    [RetryOnFailover]
    [Alias("get-quota")]
    Task<NamespaceQuota> GetQuota();

    /// <summary>
    /// Sets the limits (<paramref name="limits"/> null: removes the quota) when the quota's version is
    /// still <paramref name="expectedVersion"/> (null: whatever it is). Lowering a limit below the
    /// usage is allowed; it refuses further growth only. Not retried on failover: a retry of an
    /// applied change would find its own version and answer a conflict.
    /// </summary>
    [Alias("put-quota")]
    Task<QuotaChange> PutQuota(QuotaLimits? limits, long? expectedVersion);

    /// <summary>
    /// Counts the usage again from the repositories' states; with <paramref name="repair"/> the
    /// count replaces what was tracked. Exact when no change is in flight.
    /// </summary>
    [RetryOnFailover]
    [Alias("recount")]
    Task<UsageRecount> Recount(bool repair);
}

/// <summary>A namespace's limits; a null limit is no limit.</summary>
[GenerateSerializer, Immutable, Alias("registry.quota-limits")]
public sealed record QuotaLimits(
    [property: Id(0)] long? StorageBytes,
    [property: Id(1)] int? Repositories);

/// <summary>What a namespace uses: distinct bytes held, repositories that hold anything, distinct digests.</summary>
[GenerateSerializer, Immutable, Alias("registry.namespace-usage-figures")]
public sealed record NamespaceUsage(
    [property: Id(0)] long StorageBytes,
    [property: Id(1)] int Repositories,
    [property: Id(2)] int Digests);

/// <summary>A namespace's quota: its limits (null: none set), the version of its last change (0: never set) and the usage.</summary>
[GenerateSerializer, Immutable, Alias("registry.namespace-quota")]
public sealed record NamespaceQuota(
    [property: Id(0)] QuotaLimits? Limits,
    [property: Id(1)] long Version,
    [property: Id(2)] NamespaceUsage Used,
    [property: Id(3)] DateTimeOffset? Created);

[GenerateSerializer, Alias("registry.quota-change-outcome")]
public enum QuotaChangeOutcome
{
    Done = 0,

    /// <summary>The quota's version is not the one expected.</summary>
    Conflict = 1,

    /// <summary>A removal found no quota.</summary>
    NotFound = 2,
}

[GenerateSerializer, Immutable, Alias("registry.quota-change")]
public sealed record QuotaChange(
    [property: Id(0)] QuotaChangeOutcome Outcome,
    [property: Id(1)] NamespaceQuota Quota);

[GenerateSerializer, Alias("registry.quota-resource")]
public enum QuotaResource
{
    StorageBytes = 0,
    Repositories = 1,
}

/// <summary>
/// Why a change was refused: it would take <paramref name="Resource"/> of namespace
/// <paramref name="Namespace"/> from <paramref name="Used"/> by <paramref name="Requested"/> past <paramref name="Limit"/>.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.quota-refusal")]
public sealed record QuotaRefusal(
    [property: Id(0)] string Namespace,
    [property: Id(1)] QuotaResource Resource,
    [property: Id(2)] long Limit,
    [property: Id(3)] long Used,
    [property: Id(4)] long Requested);

/// <summary>The usage tracked before a recount and the usage the recount found.</summary>
[GenerateSerializer, Immutable, Alias("registry.usage-recount")]
public sealed record UsageRecount(
    [property: Id(0)] NamespaceUsage Tracked,
    [property: Id(1)] NamespaceUsage Counted);

/// <summary>Which namespace a repository's usage counts in.</summary>
public static class QuotaNamespaces
{
    /// <summary>The most namespaces whose usage one process exports as metrics (the gauges' cardinality).</summary>
    public const int MaxExported = 1000;

    /// <summary>A repository's namespace: its first path component (as access control reads it).</summary>
    public static string Of(string repository)
    {
        var slash = repository.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 ? repository[..slash] : repository;
    }
}
