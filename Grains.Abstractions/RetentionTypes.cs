using Orleans.Concurrency;

namespace Registry.Grains;

/// <summary>
/// The rules of a retention policy (docs/retention.md). Tag retention is on when any keep rule
/// is set; a tag is then kept when any of them keeps it (or an immutable tag rule protects it),
/// and every other tag of a matched repository is deleted. Null fields are unset.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.retention-rules")]
public sealed record RetentionRules(
    [property: Id(0)] int? KeepLastPushed,
    [property: Id(1)] TimeSpan? KeepPushedWithin,
    [property: Id(2)] TimeSpan? KeepPulledWithin,
    [property: Id(3)] IReadOnlyList<string> KeepTags,
    [property: Id(4)] bool DeleteUntagged,
    [property: Id(5)] int? KeepTagRevisions,
    [property: Id(6)] TimeSpan KeepYoungerThan,
    [property: Id(7)] TimeSpan? ScheduleInterval = null)
{
    /// <summary>What <see cref="KeepYoungerThan"/> is when a policy does not say (oc adm prune's default).</summary>
    public static readonly TimeSpan DefaultKeepYoungerThan = TimeSpan.FromMinutes(60);

    /// <summary>Whether tags are deleted at all: only when some rule says which to keep.</summary>
    public bool RetainsTags => KeepLastPushed is not null || KeepPushedWithin is not null || KeepPulledWithin is not null || KeepTags.Count > 0;
}

/// <summary>
/// One retention policy of a scope: the repositories it covers (globs relative to the namespace in
/// a namespace's policy, full names in the registry's) and its rules.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.retention-policy")]
public sealed record RetentionPolicy(
    [property: Id(0)] string Name,
    [property: Id(1)] IReadOnlyList<string> Repositories,
    [property: Id(2)] RetentionRules Rules,
    [property: Id(3)] long ResourceVersion,
    [property: Id(4)] DateTimeOffset CreatedAt,
    [property: Id(5)] RetentionRunSummary? LastScheduledRun = null)
{
    /// <summary>The most policies one scope holds.</summary>
    public const int MaxPolicies = 20;

    /// <summary>The most globs in <see cref="Repositories"/> or <see cref="RetentionRules.KeepTags"/>.</summary>
    public const int MaxGlobs = 50;
}

/// <summary>What a scheduled run of a policy did: the policy's <c>status.lastScheduledRun</c>.</summary>
[GenerateSerializer, Immutable, Alias("registry.retention-run-summary")]
public sealed record RetentionRunSummary(
    [property: Id(0)] DateTimeOffset StartedAt,
    [property: Id(1)] DateTimeOffset FinishedAt,
    [property: Id(2)] int RepositoriesExamined,
    [property: Id(3)] int RepositoriesChanged,
    [property: Id(4)] int TagsDeleted,
    [property: Id(5)] int HistoryEntriesDropped,
    [property: Id(6)] int ManifestsDeleted,
    [property: Id(7)] string? Error);

[Alias("registry.retention-outcome")]
public enum RetentionPolicyOutcome
{
    Done = 0,
    NotFound = 1,
    Conflict = 2,
    TooMany = 3,
}

/// <summary>The outcome of a change to a scope's retention policies; <see cref="Policy"/> is the policy after it (null when gone or never there).</summary>
[GenerateSerializer, Immutable, Alias("registry.retention-policy-change")]
public sealed record RetentionPolicyChange(
    [property: Id(0)] RetentionPolicyOutcome Outcome,
    [property: Id(1)] RetentionPolicy? Policy);

/// <summary>
/// The retention policies of one scope, keyed by namespace (<see cref="ScopePolicy.RegistryScope"/>
/// for the registry's). Not reentrant: each change reads and writes in one sitting.
/// </summary>
[Alias("registry.retention-policies")]
public interface IRetentionPolicyGrain : IGrainWithStringKey
{
    [ReadOnly, Alias("list")]
    ValueTask<IReadOnlyList<RetentionPolicy>> List();

    [ReadOnly, Alias("get")]
    ValueTask<RetentionPolicy?> Get(string name);

    /// <summary>Creates or replaces a policy when <paramref name="resourceVersion"/> is its current one (0: whatever it is, or absent).</summary>
    [Alias("put")]
    Task<RetentionPolicyChange> Put(string name, IReadOnlyList<string> repositories, RetentionRules rules, long resourceVersion);

    /// <summary>Removes a policy; <paramref name="resourceVersion"/> 0 means any.</summary>
    [Alias("delete")]
    Task<RetentionPolicyChange> Delete(string name, long resourceVersion);

    /// <summary>Records a scheduled run in the policy's status (its resourceVersion stays: the spec did not change); false when the policy is gone.</summary>
    [Alias("record-scheduled-run")]
    Task<bool> RecordScheduledRun(string name, RetentionRunSummary run);
}

/// <summary>A scheduled policy that is due, as <see cref="IRetentionScheduleGrain.ClaimDue"/> hands it out.</summary>
[GenerateSerializer, Immutable, Alias("registry.retention-due")]
public sealed record RetentionDue(
    [property: Id(0)] string Scope,
    [property: Id(1)] string Name,
    [property: Id(2)] TimeSpan Interval);

/// <summary>
/// The owner of scheduled retention runs, one per cluster (key 0): it knows every policy with a
/// <c>schedule</c> and when each is next due, and hands each due one to exactly one claimant, so a
/// policy applies once per interval cluster-wide (docs/retention.md). Not reentrant.
/// </summary>
[Alias("registry.retention-schedule")]
public interface IRetentionScheduleGrain : IGrainWithIntegerKey
{
    /// <summary>Schedules a policy every <paramref name="interval"/> from now (unchanged when it already has that interval); null unschedules it.</summary>
    [Alias("set")]
    Task Set(string scope, string name, TimeSpan? interval);

    /// <summary>The due policies nobody holds, each now held by the caller for <paramref name="lease"/> (a claimant that dies frees it when the lease ends).</summary>
    [Alias("claim-due")]
    Task<IReadOnlyList<RetentionDue>> ClaimDue(TimeSpan lease);

    /// <summary>A claimed run finished (or failed): the policy is next due one interval after <paramref name="startedAt"/>.</summary>
    [Alias("finished")]
    Task Finished(string scope, string name, DateTimeOffset startedAt);

    /// <summary>The scheduled policies of <paramref name="scope"/> and when each is next due.</summary>
    [ReadOnly, Alias("next-runs")]
    ValueTask<IReadOnlyList<RetentionScheduled>> List(string scope);
}

/// <summary>A scheduled policy and when it is next due.</summary>
[GenerateSerializer, Immutable, Alias("registry.retention-scheduled")]
public sealed record RetentionScheduled(
    [property: Id(0)] string Scope,
    [property: Id(1)] string Name,
    [property: Id(2)] TimeSpan Interval,
    [property: Id(3)] DateTimeOffset NextRunAt);

/// <summary>
/// What a retention run asks of one repository (<see cref="IRepositoryGrain.ApplyRetention"/>):
/// the rules, the immutable tag rules that apply to it, the run's clock and whether to change anything.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.retention-request")]
public sealed record RetentionRequest(
    [property: Id(0)] RetentionRules Rules,
    [property: Id(1)] IReadOnlyList<ImmutableTagRule> ImmutableTagRules,
    [property: Id(2)] DateTimeOffset Now,
    [property: Id(3)] bool DryRun);

/// <summary>A tag a retention run deletes, with the manifest it pointed at.</summary>
[GenerateSerializer, Immutable, Alias("registry.retention-tag")]
public sealed record RetentionTag([property: Id(0)] string Tag, [property: Id(1)] string Digest);

/// <summary>A history entry of a tag that a retention run drops.</summary>
[GenerateSerializer, Immutable, Alias("registry.retention-history-entry")]
public sealed record RetentionHistoryEntry(
    [property: Id(0)] string Tag,
    [property: Id(1)] string Digest,
    [property: Id(2)] DateTimeOffset Created,
    [property: Id(3)] long Generation);

/// <summary>
/// What a retention run deleted from one repository (in a dry run: would delete). Untagged
/// manifests are not judged (<see cref="UntaggedSkipped"/>) while the repository holds manifests
/// pushed before their references were recorded: what they name is unknown.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.retention-result")]
public sealed record RetentionResult(
    [property: Id(0)] IReadOnlyList<RetentionTag> Tags,
    [property: Id(1)] IReadOnlyList<RetentionHistoryEntry> History,
    [property: Id(2)] IReadOnlyList<string> Manifests,
    [property: Id(3)] bool UntaggedSkipped)
{
    public static readonly RetentionResult Nothing = new([], [], [], false);

    public bool IsEmpty => Tags.Count == 0 && History.Count == 0 && Manifests.Count == 0;
}
