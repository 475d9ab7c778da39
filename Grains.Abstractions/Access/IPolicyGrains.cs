using Orleans.Concurrency;

namespace Registry.Grains;

/// <summary>
/// Who a binding names: a <c>User</c> (an account's name), a <c>Group</c> (an account's group, or
/// <c>system:anonymous</c> / <c>system:authenticated</c>) or a <c>ServiceAccount</c> (a robot:
/// <paramref name="Namespace"/> and <paramref name="Name"/>, whose login name is <c>ns+name</c>).
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.policy-subject")]
public sealed record PolicySubject(
    [property: Id(0)] string Kind,
    [property: Id(1)] string Name,
    [property: Id(2)] string? Namespace = null)
{
    public const string User = "User";
    public const string Group = "Group";
    public const string ServiceAccount = "ServiceAccount";

    /// <summary>The identity name a <c>ServiceAccount</c> subject logs in as; the name itself for a user.</summary>
    public string LoginName => Kind == ServiceAccount ? $"{Namespace}+{Name}" : Name;
}

/// <summary>
/// One binding of a built-in role to subjects: in a namespace (on the whole namespace, or on one
/// of its repositories when <paramref name="Repository"/> is set, relative to the namespace), or
/// at registry scope (the registry-scope policy's bindings).
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.role-binding")]
public sealed record RoleBinding(
    [property: Id(0)] string Name,
    [property: Id(1)] string Role,
    [property: Id(2)] IReadOnlyList<PolicySubject> Subjects,
    [property: Id(3)] string? Repository,
    [property: Id(4)] long ResourceVersion,
    [property: Id(5)] DateTimeOffset CreatedAt);

/// <summary>
/// The access policy of one scope as every process caches it: whether the namespace exists (the
/// registry scope always does), its bindings, and its version, raised by every change.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.scope-policy")]
public sealed record ScopePolicy(
    [property: Id(0)] string Scope,
    [property: Id(1)] bool Exists,
    [property: Id(2)] long Version,
    [property: Id(3)] DateTimeOffset? CreatedAt,
    [property: Id(4)] IReadOnlyList<RoleBinding> Bindings,
    [property: Id(5)] ImmutableTagRules? ImmutableTags = null)
{
    /// <summary>The key of the registry-scope policy (not a valid namespace name).</summary>
    public const string RegistryScope = "*";

    /// <summary>The scope's immutable tag rules (docs/immutable-tags.md); none when never set.</summary>
    public ImmutableTagRules TagRules => ImmutableTags ?? ImmutableTagRules.None;
}

/// <summary>The outcome of a change to a policy; <see cref="Policy"/> is the policy after it (or as it is, when refused).</summary>
[GenerateSerializer, Immutable, Alias("registry.policy-change-result")]
public sealed record PolicyChangeResult(
    [property: Id(0)] PolicyOutcome Outcome,
    [property: Id(1)] ScopePolicy Policy);

[Alias("registry.policy-outcome")]
public enum PolicyOutcome
{
    Done = 0,

    /// <summary>The namespace, or the binding named, does not exist.</summary>
    NotFound = 1,

    /// <summary>Creating what exists already.</summary>
    AlreadyExists = 2,

    /// <summary>The resourceVersion given is not the current one.</summary>
    Conflict = 3,

    /// <summary>The namespace holds as many bindings as it may.</summary>
    TooMany = 4,
}

/// <summary>
/// The policy of one scope, keyed by namespace name (<see cref="ScopePolicy.RegistryScope"/> for
/// the registry scope): the namespace record and its role bindings. Every change raises the
/// version and is announced to <see cref="IPolicyVersionGrain"/> before it is acknowledged, so
/// every process's cache learns of it.
/// </summary>
[Alias("registry.policy")]
public interface IPolicyGrain : IGrainWithStringKey
{
    [ReadOnly, Alias("get")]
    ValueTask<ScopePolicy> Get();

    /// <summary>Creates the namespace with <paramref name="admin"/> (when not empty) bound to its admin role.</summary>
    [Alias("create")]
    Task<PolicyChangeResult> Create(string admin);

    /// <summary>Deletes the namespace record and its bindings (repositories stay); <paramref name="resourceVersion"/> 0 means any.</summary>
    [Alias("delete")]
    Task<PolicyChangeResult> Delete(long resourceVersion);

    /// <summary>
    /// Creates a binding (<paramref name="create"/>), or replaces the one of its name when
    /// <paramref name="resourceVersion"/> is its current one (0: whatever it is).
    /// </summary>
    [Alias("put-binding")]
    Task<PolicyChangeResult> PutBinding(RoleBinding binding, bool create, long resourceVersion);

    /// <summary>Removes a binding; <paramref name="resourceVersion"/> 0 means any.</summary>
    [Alias("delete-binding")]
    Task<PolicyChangeResult> DeleteBinding(string name, long resourceVersion);

    /// <summary>
    /// Replaces the scope's immutable tag rules (none: removes them) when <paramref name="resourceVersion"/>
    /// is theirs (0: whatever they are); a namespace's rules need no namespace record.
    /// </summary>
    [Alias("put-immutable-tag-rules")]
    Task<PolicyChangeResult> PutImmutableTagRules(IReadOnlyList<ImmutableTagRule> rules, long resourceVersion);
}

/// <summary>One announced change: the scope and the version it reached.</summary>
[GenerateSerializer, Immutable, Alias("registry.policy-change")]
public sealed record PolicyChange(
    [property: Id(0)] string Scope,
    [property: Id(1)] long Version,
    [property: Id(2)] bool TagRules = false);

/// <summary>
/// What changed after a sequence number. <paramref name="Changes"/> is null when the caller's
/// epoch or sequence is unknown here (the grain restarted, or the caller fell too far behind):
/// then everything cached may be stale.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.policy-changes")]
public sealed record PolicyChanges(
    [property: Id(0)] Guid Epoch,
    [property: Id(1)] long Sequence,
    [property: Id(2)] IReadOnlyList<PolicyChange>? Changes);

/// <summary>
/// The cluster's log of recent policy changes (key 0), held in memory only: every process polls
/// it a few times a second and refetches the scopes that changed. A restart starts a new epoch,
/// which makes every process drop its cache.
/// </summary>
[Alias("registry.policy-version")]
public interface IPolicyVersionGrain : IGrainWithIntegerKey
{
    /// <summary>Announces a change; <paramref name="tagRules"/> when it changed the scope's immutable tag rules.</summary>
    [Alias("changed")]
    Task Changed(string scope, long version, bool tagRules = false);

    [ReadOnly, Alias("since")]
    Task<PolicyChanges> Since(Guid epoch, long sequence);
}

/// <summary>The names of the namespaces created (key 0), for listing them.</summary>
[Alias("registry.namespace-directory")]
public interface INamespaceDirectoryGrain : IGrainWithIntegerKey
{
    [Alias("add")]
    Task Add(string name);

    [Alias("remove")]
    Task Remove(string name);

    [ReadOnly, Alias("list")]
    Task<IReadOnlyList<string>> List();
}
