using Orleans.Runtime;

namespace Registry.Grains;

/// <summary>
/// An image change, in the shape webhook consumers of the reference registry understand, plus the
/// repository's generation. <see cref="Id"/> is unique and stable: delivery is at least once, so
/// every consumer drops an id it has seen. A request refused by access control travels in the
/// same shape with <see cref="Refusal"/> set (<see cref="AccessRefusal"/>).
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.event")]
public sealed record RegistryEvent(
    [property: Id(0)] string Id,
    [property: Id(1)] DateTimeOffset Timestamp,
    [property: Id(2)] string Action,
    [property: Id(3)] EventTarget Target,
    [property: Id(4)] EventRequest Request,
    [property: Id(5)] string? Actor,
    [property: Id(6)] EventSourceReplica Source,
    [property: Id(7)] long Generation)
{
    public const string Push = "push";
    public const string Pull = "pull";
    public const string Mount = "mount";
    public const string Delete = "delete";

    /// <summary>A repository left empty was taken out of the catalog (garbage collection or an image stream's delete).</summary>
    public const string RepositoryRemoved = "repository.removed";

    /// <summary>A garbage collection deleted a stored blob (<see cref="Collection"/> names the run).</summary>
    public const string BlobCollected = "blob.collected";

    /// <summary>A garbage collection finished (<see cref="Collection"/> holds its figures).</summary>
    public const string CollectionFinished = "gc.finished";

    /// <summary>
    /// Set only on a refused request's event (action <c>access.*</c> or <c>login.*</c>): not a change,
    /// never in a repository's outbox, published best-effort on <see cref="RegistryStreams.Refusals"/>.
    /// </summary>
    [Id(8)]
    public AccessRefusal? Refusal { get; init; }

    /// <summary>Whether this is a refused request's event rather than an image change.</summary>
    public bool IsRefusal => Refusal is not null;

    /// <summary>
    /// Set only on a garbage collection's events (<c>blob.collected</c>, <c>gc.finished</c>): not a
    /// repository's change, never in an outbox, published on <see cref="RegistryStreams.Collections"/>.
    /// </summary>
    [Id(9)]
    public CollectionFigures? Collection { get; init; }

    /// <summary>Whether this is a garbage collection's event.</summary>
    public bool IsCollection => Collection is not null;

    /// <summary>Whether the event came from a repository's outbox (so consumers acknowledge it there).</summary>
    public bool FromOutbox => Refusal is null && Collection is null;

    public string Repository => Target.Repository;

    /// <summary>The namespace: the repository name's first component ("" for a single component).</summary>
    public string Namespace => Target.Repository.IndexOf('/', StringComparison.Ordinal) is var slash and >= 0 ? Target.Repository[..slash] : "";
}

[GenerateSerializer, Immutable, Alias("registry.event-target")]
public sealed record EventTarget(
    [property: Id(0)] string? MediaType,
    [property: Id(1)] string? Digest,
    [property: Id(2)] long Size,
    [property: Id(3)] string Repository,
    [property: Id(4)] string? FromRepository,
    [property: Id(5)] string? Url,
    [property: Id(6)] string? Tag);

/// <summary>
/// Why a request was refused (the event's action is <c>access.denied</c>, <c>access.unauthorized</c>,
/// <c>login.failed</c> or <c>login.throttled</c>): its status, the reason (<c>invalid_token</c>, <c>bad_credentials</c>,
/// <c>insufficient_scope</c>, <c>forbidden</c>, <c>too_many_failures</c>), the access it needed as
/// scope strings and its path. Never a password or token.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.access-refusal")]
public sealed record AccessRefusal(
    [property: Id(0)] int Status,
    [property: Id(1)] string Reason,
    [property: Id(2)] string Scope,
    [property: Id(3)] string Path);

/// <summary>
/// The run behind a garbage collection's event, and on <c>gc.finished</c> its figures (zeros on
/// <c>blob.collected</c>). <see cref="BlobEventsOmitted"/>: deleted blobs beyond the per-run bound of
/// <c>blob.collected</c> events, counted here only.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.collection-figures")]
public sealed record CollectionFigures(
    [property: Id(0)] string Run,
    [property: Id(1)] bool DryRun,
    [property: Id(2)] long BlobsExamined,
    [property: Id(3)] long BlobsReclaimed,
    [property: Id(4)] long BytesReclaimed,
    [property: Id(5)] long StraysReclaimed,
    [property: Id(6)] long StrayBytesReclaimed,
    [property: Id(7)] long RepositoriesRemoved,
    [property: Id(8)] long BlobEventsOmitted,
    [property: Id(9)] string? Error,
    [property: Id(10)] long ManifestsRemoved = 0,
    [property: Id(11)] long LinksRemoved = 0);

/// <summary>The HTTP request behind a change.</summary>
[GenerateSerializer, Immutable, Alias("registry.event-request")]
public sealed record EventRequest(
    [property: Id(0)] string Id,
    [property: Id(1)] string Addr,
    [property: Id(2)] string Host,
    [property: Id(3)] string Method,
    [property: Id(4)] string UserAgent)
{
    public static readonly EventRequest None = new("", "", "", "", "");
}

/// <summary>The registry replica that served the request (an event's <c>source</c>).</summary>
[GenerateSerializer, Immutable, Alias("registry.event-source")]
public sealed record EventSourceReplica(
    [property: Id(0)] string Addr,
    [property: Id(1)] string InstanceId)
{
    public static readonly EventSourceReplica None = new("", "");
}

/// <summary>Who and what caused a change; travels from the HTTP host to the grains in the Orleans request context.</summary>
[GenerateSerializer, Immutable, Alias("registry.change-origin")]
public sealed record ChangeOrigin(
    [property: Id(0)] EventRequest Request,
    [property: Id(1)] string? Actor,
    [property: Id(2)] EventSourceReplica Source)
{
    public const string ContextKey = "registry.origin";

    /// <summary>
    /// The URL of what the change adds (the pushed manifest or blob), as the HTTP host names it:
    /// the event's <c>target.url</c>. Grains copy it and never build URLs themselves.
    /// </summary>
    [Id(3)]
    public string? TargetUrl { get; init; }

    public static ChangeOrigin Current => Orleans.Runtime.RequestContext.Get(ContextKey) as ChangeOrigin ?? new(EventRequest.None, null, EventSourceReplica.None);
}

/// <summary>The Orleans streams that carry <see cref="RegistryEvent"/>s.</summary>
public static class RegistryStreams
{
    /// <summary>The stream provider's name (memory streams embedded, Azure Queue in cluster mode).</summary>
    public const string Provider = "registry-events";

    /// <summary>Every event of the registry: namespace <c>registry</c>, key <c>all</c>.</summary>
    public static StreamId All => StreamId.Create("registry", "all");

    /// <summary>The stream namespace of <see cref="OfNamespace"/>, which its consumers subscribe to implicitly.</summary>
    public const string NamespaceStreamNamespace = "registry-ns";

    /// <summary>The events of one namespace: namespace <see cref="NamespaceStreamNamespace"/>, key = the namespace ("" is written "_").</summary>
    public static StreamId OfNamespace(string ns) => StreamId.Create(NamespaceStreamNamespace, ns.Length == 0 ? "_" : ns);

    /// <summary>
    /// The key of refusal events within <see cref="NamespaceStreamNamespace"/>: no namespace can be
    /// named so (a name component starts with a letter or digit), so refusals get a log and webhook
    /// queues of their own and never share (or crowd out) a namespace's image events.
    /// </summary>
    public const string RefusalsKey = "_access";

    /// <summary>Refused requests' events (<see cref="RegistryEvent.Refusal"/>): their own key of the namespace streams.</summary>
    public static StreamId Refusals => StreamId.Create(NamespaceStreamNamespace, RefusalsKey);

    /// <summary>The key of garbage collections' events within <see cref="NamespaceStreamNamespace"/> (no namespace can be named so).</summary>
    public const string CollectionsKey = "_gc";

    /// <summary>Garbage collections' events (<see cref="RegistryEvent.Collection"/>): their own key of the namespace streams.</summary>
    public static StreamId Collections => StreamId.Create(NamespaceStreamNamespace, CollectionsKey);
}
