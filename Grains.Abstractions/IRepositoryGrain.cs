using Orleans.Concurrency;

namespace Registry.Grains;

/// <summary>
/// One repository ("image stream"), keyed by its full name. It owns the tags and their history,
/// the manifests, the blobs the repository may serve and the referrers; every mutation of them
/// is serialized here and durable before it is acknowledged.
/// </summary>
[Alias("registry.repository")]
public interface IRepositoryGrain : IGrainWithStringKey
{
    /// <summary>Accepts a manifest when everything it references is present, and moves the tag if one is given.</summary>
    [RetryOnFailover(WithCallId = true)]
    [Alias("put-manifest")]
    Task<ManifestPushResult> PutManifest(ManifestPush push);

    /// <summary>
    /// What <see cref="PutManifest"/> would refuse the manifest for right now (a missing blob or
    /// child manifest, or bytes beyond its namespace's quota), or null; lets a push store the manifest's bytes only when they may be kept.
    /// </summary>
    [RetryOnFailover]
    [Alias("check-manifest")]
    ValueTask<ManifestPushResult?> CheckManifest(ManifestPush push);

    [RetryOnFailover]
    [Alias("resolve-tag")]
    ValueTask<ManifestDescriptor?> ResolveTag(string tag);

    [RetryOnFailover]
    [Alias("get-manifest")]
    ValueTask<ManifestDescriptor?> GetManifest(string digest);

    /// <summary>A page of the tags list; null when the repository is unknown.</summary>
    [RetryOnFailover]
    [Alias("list-tags")]
    ValueTask<TagsListing?> ListTags(string? last, int limit);

    /// <summary>The acknowledged writes of a tag, newest first.</summary>
    [RetryOnFailover]
    [Alias("tag-history")]
    ValueTask<IReadOnlyList<TagHistoryEntry>> GetTagHistory(string tag);

    /// <summary>
    /// Every tag with its history (newest first), and what identifies the repository's current
    /// state, for the image API's ImageStream; null when the repository is unknown.
    /// </summary>
    [RetryOnFailover]
    [ReadOnly, Alias("image-stream")]
    ValueTask<ImageStreamView?> GetImageStream();

    /// <summary>Up to <paramref name="limit"/> manifests with digests after <paramref name="after"/>, in ordinal order of digest.</summary>
    [RetryOnFailover]
    [ReadOnly, Alias("list-manifests")]
    ValueTask<ManifestPage> ListManifests(string? after, int limit);

    [RetryOnFailover(WithCallId = true)]
    [Alias("delete-tag")]
    Task<bool> DeleteTag(string tag);

    /// <summary>Deletes a manifest and every tag that points at it.</summary>
    [RetryOnFailover(WithCallId = true)]
    [Alias("delete-manifest")]
    Task<bool> DeleteManifest(string digest);

    /// <summary>Lets the repository serve a blob whose bytes are verified and stored; the refusal when its namespace's quota is full.</summary>
    [RetryOnFailover]
    [Alias("link-blob")]
    Task<QuotaRefusal?> LinkBlob(string digest, long size);

    /// <summary>Like <see cref="LinkBlob"/>, for a blob mounted from another repository (<paramref name="from"/>, if named).</summary>
    [RetryOnFailover]
    [Alias("mount-blob")]
    Task<QuotaRefusal?> MountBlob(string digest, long size, string? from);

    /// <summary>The size of a blob this repository may serve, or null.</summary>
    [RetryOnFailover]
    [Alias("blob-size")]
    ValueTask<long?> GetBlobSize(string digest);

    [RetryOnFailover(WithCallId = true)]
    [Alias("unlink-blob")]
    Task<bool> UnlinkBlob(string digest);

    [RetryOnFailover]
    [Alias("referrers")]
    ValueTask<IReadOnlyList<Referrer>> GetReferrers(string subject, string? artifactType);

    /// <summary>Every digest the repository needs stored (garbage collection's mark phase).</summary>
    [RetryOnFailover]
    [Alias("references")]
    ValueTask<RepositoryReferences> GetReferences();

    /// <summary>
    /// How many events the outbox holds: of durable changes and not yet published, or (where the
    /// outbox waits for acknowledgements) published and not yet acknowledged by every consumer.
    /// </summary>
    [RetryOnFailover]
    [Alias("outbox-length")]
    ValueTask<int> GetOutboxLength();

    /// <summary>
    /// A durable consumer has stored these events of this repository (or had them already): once
    /// every consumer the outbox waits for has said so, an event leaves the outbox. One-way, so a
    /// consumer never waits for the repository; a lost acknowledgement only means a redelivery.
    /// </summary>
    [OneWay, Alias("events-persisted")]
    Task EventsPersisted(EventConsumers consumer, IReadOnlyList<string> eventIds);

    /// <summary>
    /// Activates the repository so that its outbox publishes what it still holds (a silo's start,
    /// through <see cref="IOutboxDirectoryGrain"/>); one-way.
    /// </summary>
    [OneWay, Alias("wake-outbox")]
    Task WakeOutbox();

    // Image API writes (ImageStreamTag create/update/delete, ImageStream delete).

    /// <summary>
    /// Points a tag at a manifest the repository holds, created or moved, with its history and
    /// event as a push by tag would write them; refused when stale, unknown, existing on a create
    /// or a move the caller may not make.
    /// </summary>
    [RetryOnFailover(WithCallId = true)]
    [Alias("tag-manifest")]
    Task<TagMoveResult> TagManifest(TagMove move);

    /// <summary>
    /// Removes every tag, manifest and blob link of the repository, an event for each; not deleted
    /// when it held nothing, refused (nothing removed) while one of <paramref name="rules"/> protects a tag it holds.
    /// </summary>
    [RetryOnFailover(WithCallId = true)]
    [Alias("delete-image-stream-guarded")]
    Task<GuardedDeleteResult> DeleteImageStream(IReadOnlyList<ImmutableTagRule> rules);

    // Immutable tags (docs/immutable-tags.md): deletes that the rules given, those of the repository, may refuse.

    /// <summary>Like <see cref="DeleteTag"/>, refused when one of <paramref name="rules"/> protects the tag.</summary>
    [RetryOnFailover(WithCallId = true)]
    [Alias("delete-tag-guarded")]
    Task<GuardedDeleteResult> DeleteTagGuarded(string tag, IReadOnlyList<ImmutableTagRule> rules);

    /// <summary>Like <see cref="DeleteManifest"/>, refused when one of <paramref name="rules"/> protects a tag that points at it.</summary>
    [RetryOnFailover(WithCallId = true)]
    [Alias("delete-manifest-guarded")]
    Task<GuardedDeleteResult> DeleteManifestGuarded(string digest, IReadOnlyList<ImmutableTagRule> rules);

    // Garbage collection additions (empty repositories, pruning).

    /// <summary>
    /// Takes the repository out of the catalog when it holds nothing (no tag, manifest or blob),
    /// decided in its own turn, so a concurrent push either lands first (then it stays) or lists it
    /// again. Emits <c>repository.removed</c>. True when it is empty (and so unlisted).
    /// </summary>
    [RetryOnFailover]
    [Alias("remove-if-empty")]
    Task<bool> RemoveIfEmpty();

    /// <summary>
    /// Garbage collection's policies: removes (a dry run only reports) the untagged manifests and
    /// the unused links older than the request's cutoff, decided in the repository's turn; each
    /// removal is a <c>delete</c> event. A retry decides again from the state (what went stays gone).
    /// </summary>
    [RetryOnFailover]
    [Alias("prune")]
    Task<PruneResult> Prune(PruneRequest request);

    // Namespace quotas (docs/quotas.md)

    /// <summary>Every digest the repository holds (blob links and manifests) with its size: what its namespace's usage counts.</summary>
    [RetryOnFailover]
    [ReadOnly, Alias("held-digests")]
    ValueTask<Dictionary<string, long>> GetHeldDigests();

    // Image stream spec tags (docs/image-api.md#spec-tags): ImageStream create/update/patch, ImageStreamTag writes and deletes.

    /// <summary>
    /// Creates or changes the stream's spec (tags, labels, annotations) and moves the tags whose
    /// <c>from</c> changed, and every tag that tracks them, in one turn; refused (nothing changed)
    /// when stale, existing on a create, missing on an update, cyclic, or a move the caller or a rule forbids.
    /// </summary>
    [RetryOnFailover(WithCallId = true)]
    [Alias("change-image-stream-spec")]
    Task<SpecChangeResult> ChangeImageStreamSpec(SpecChange change);

    /// <summary>Removes a tag's spec entry and its status (ImageStreamTag delete); not deleted when it has neither, refused when a rule protects it.</summary>
    [RetryOnFailover(WithCallId = true)]
    [Alias("delete-image-stream-tag")]
    Task<GuardedDeleteResult> DeleteImageStreamTag(string tag, IReadOnlyList<ImmutableTagRule> rules);

    // Retention (docs/retention.md)

    /// <summary>
    /// Records when manifests were last pulled (digest → time, batched by an HTTP host); digests the
    /// repository does not hold are ignored, and one state write covers the batch.
    /// </summary>
    [RetryOnFailover]
    [Alias("record-pulls")]
    Task RecordPulls(IReadOnlyDictionary<string, DateTimeOffset> pulls);

    /// <summary>
    /// Applies a retention policy's rules (a dry run only reports): deletes the tags no rule keeps,
    /// drops old tag history entries and deletes untagged manifests, decided in the repository's
    /// turn; each deleted tag and manifest is a <c>delete</c> event. A retry decides again from the state.
    /// </summary>
    [RetryOnFailover]
    [Alias("apply-retention")]
    Task<RetentionResult> ApplyRetention(RetentionRequest request);
}

/// <summary>
/// What a repository keeps from garbage collection: <see cref="Digests"/> (links, manifests and
/// what they name) and the manifests pushed before their references were recorded, whose bytes
/// the collector reads to find what they name.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.repository-references")]
public sealed record RepositoryReferences(
    [property: Id(0)] IReadOnlyList<string> Digests,
    [property: Id(1)] IReadOnlyList<string> UnrecordedManifests);

/// <summary>
/// The consumers whose acknowledgement keeps an event in its repository's outbox until they have
/// stored it (<see cref="IRepositoryGrain.EventsPersisted"/>): needed where the stream itself is
/// not durable (embedded mode's memory streams).
/// </summary>
[Flags, GenerateSerializer, Alias("registry.event-consumers")]
public enum EventConsumers
{
    None = 0,

    /// <summary>The namespace event log (watch), once the event is in its stored log.</summary>
    EventLog = 1,

    /// <summary>The webhook fanout, once every webhook queue that wants the event has stored it.</summary>
    Webhooks = 2,

    /// <summary>The in-process subscribers (audit log), once each has been offered the event.</summary>
    Subscribers = 4,
}

public static class EventAcknowledgements
{
    /// <summary>
    /// Tells each event's repository that <paramref name="consumer"/> has stored it: one one-way
    /// <see cref="IRepositoryGrain.EventsPersisted"/> per repository, nothing waits for it.
    /// </summary>
    public static void AcknowledgeStored(this IGrainFactory grains, EventConsumers consumer, IEnumerable<RegistryEvent> events)
    {
        // Refusal and collection events come from no outbox: nothing to acknowledge.
        foreach (var repository in events.Where(e => e.FromOutbox).GroupBy(e => e.Repository, StringComparer.Ordinal))
        {
            _ = grains.GetGrain<IRepositoryGrain>(repository.Key).EventsPersisted(consumer, repository.Select(e => e.Id).ToArray());
        }
    }
}
