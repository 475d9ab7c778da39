using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Runtime;
using Orleans.Streams;

namespace Registry.Grains;

/// <remarks>
/// Reentrant so that concurrent mutations share state writes (<see cref="GroupCommit"/>). Every method
/// validates and applies its change synchronously, within one turn, before its first await; so each
/// change is atomic, and none is acknowledged before a write that includes it has completed.
/// <para>
/// The outbox: each change writes its event into the state with the change, and the event is
/// published from there. Where the stream is durable (cluster mode) an event leaves the outbox once
/// published. Where it is not (embedded mode's memory streams, <see cref="EventOutboxOptions.AwaitAcknowledgements"/>),
/// it stays until every durable consumer has stored it and acknowledged it (<see cref="EventsPersisted"/>,
/// one-way); a new activation publishes everything still in the outbox again. Either way removals
/// are not written on their own: they ride along with the next state write, or a deferred one
/// (<see cref="EventOutboxOptions.TrimDelay"/>), so the push path gains no write and no call.
/// </para>
/// </remarks>
[Reentrant]
public sealed class RepositoryGrain : Grain, IRepositoryGrain
{
    private readonly IPersistentState<RepositoryState> _state;
    private readonly IOptions<RepositoryGrainOptions> _options;
    private readonly EventOutboxOptions _outbox;
    private readonly EventOutboxMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly GroupCommit _commit;
    private readonly ILogger<RepositoryGrain> _logger;
    private string[]? _sortedTags;
    private (string? Last, int Limit, TagsListing Listing)? _lastListing;

    /// <summary>The last event sequence number included in a completed state write.</summary>
    private long _durableSequence;

    /// <summary>The last outbox sequence number this activation handed to the streams.</summary>
    private long _publishedSequence;

    /// <summary>Published events that wait for acknowledgements, by id (only when <see cref="EventOutboxOptions.Awaited"/> is not none).</summary>
    private readonly Dictionary<string, AwaitedEvent> _awaiting = new(StringComparer.Ordinal);

    /// <summary>Counts removals from the outbox; <see cref="_storedTrims"/> is the count the last completed write included.</summary>
    private long _trims;
    private long _storedTrims;

    /// <summary>The deferred trim write and age check, while something waits for either.</summary>
    private IGrainTimer? _outboxTimer;

    private Task? _publishing;

    public RepositoryGrain(
        [PersistentState("repository", RegistryStorage.Name)] IPersistentState<RepositoryState> state,
        IOptions<RepositoryGrainOptions> options,
        IOptions<EventOutboxOptions> outbox,
        EventOutboxMetrics metrics,
        TimeProvider time,
        ILogger<RepositoryGrain> logger)
    {
        _logger = logger;
        _state = state;
        _options = options;
        _outbox = outbox.Value;
        _metrics = metrics;
        _time = time;
        _commit = new GroupCommit(WriteAsync, DeactivateOnIdle);
    }

    private RepositoryState S => _state.State;

    private string Name => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Everything loaded is durable. What is in the outbox may not have reached its consumers (a
        // crash before the publish, or, with memory streams, before the consumers stored it): it
        // all goes out now, and consumers drop the ids they have.
        _durableSequence = S.EventSequence;
        await PublishAsync();
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_trims != _storedTrims && reason.ReasonCode != DeactivationReasonCode.ApplicationError)
        {
            try
            {
                await _commit.CommitAsync();
            }
            catch (Exception e)
            {
                // Harmless: the published events stay in the stored outbox and go out once more.
                RepositoryLog.OutboxTrimFailed(_logger, e, Name);
            }
        }
    }

    public ValueTask<ManifestPushResult?> CheckManifest(ManifestPush push) => ValueTask.FromResult(Refusal(push));

    public async Task<ManifestPushResult> PutManifest(ManifestPush push)
    {
        if (Refusal(push) is { } refused)
        {
            return refused;
        }

        var manifest = push.Manifest;
        S.Manifests.TryAdd(manifest.Digest, manifest);
        if (manifest.Subject is { } subject)
        {
            var list = S.Referrers.TryGetValue(subject, out var existing) ? existing : S.Referrers[subject] = [];
            if (!list.Contains(manifest.Digest))
            {
                list.Add(manifest.Digest);
            }
        }

        if (push.Tag is { } tag)
        {
            if (!S.Tags.TryGetValue(tag, out var tagState))
            {
                S.Tags[tag] = tagState = new TagState();
                TagsChanged();
            }

            tagState.Digest = manifest.Digest;
            tagState.History.Add(new TagHistoryEntry(manifest.Digest, _time.GetUtcNow(), ++S.Generation));
            var excess = tagState.History.Count - _options.Value.TagHistoryLimit;
            if (excess > 0)
            {
                tagState.History.RemoveRange(0, excess);
            }
        }

        Emit(RegistryEvent.Push, manifest.MediaType, manifest.Digest, manifest.Size, push.Tag, "manifests");
        await SaveAndPublishAsync();
        return new ManifestPushResult(ManifestPushOutcome.Accepted, null, S.Generation);
    }

    /// <summary>Why a manifest cannot be accepted: the first blob or child manifest this repository lacks.</summary>
    private ManifestPushResult? Refusal(ManifestPush push)
    {
        foreach (var blob in push.Blobs)
        {
            if (!S.Blobs.ContainsKey(blob))
            {
                return new ManifestPushResult(ManifestPushOutcome.BlobUnknown, blob, S.Generation);
            }
        }

        foreach (var child in push.ChildManifests)
        {
            if (!S.Manifests.ContainsKey(child))
            {
                return new ManifestPushResult(ManifestPushOutcome.ManifestUnknown, child, S.Generation);
            }
        }

        return null;
    }

    public ValueTask<ManifestDescriptor?> ResolveTag(string tag)
        => ValueTask.FromResult(S.Tags.TryGetValue(tag, out var t) ? S.Manifests.GetValueOrDefault(t.Digest) : null);

    public ValueTask<ManifestDescriptor?> GetManifest(string digest)
        => ValueTask.FromResult(S.Manifests.GetValueOrDefault(digest));

    private void TagsChanged()
    {
        _sortedTags = null;
        _lastListing = null;
    }

    public ValueTask<TagsListing?> ListTags(string? last, int limit)
    {
        if (S.IsEmpty)
        {
            return ValueTask.FromResult<TagsListing?>(null);
        }

        // Clients page through the same list again and again (pulls resolve tags, CI polls): the
        // last page rendered is kept until the tags change.
        if (_lastListing is { } cached && cached.Limit == limit && string.Equals(cached.Last, last, StringComparison.Ordinal))
        {
            return ValueTask.FromResult<TagsListing?>(cached.Listing);
        }

        _sortedTags ??= S.Tags.Keys.Order(StringComparer.Ordinal).ToArray();
        var listing = TagsListing.Render(Name, Paging.Page(_sortedTags, last, limit));
        _lastListing = (last, limit, listing);
        return ValueTask.FromResult<TagsListing?>(listing);
    }

    public ValueTask<IReadOnlyList<TagHistoryEntry>> GetTagHistory(string tag)
    {
        IReadOnlyList<TagHistoryEntry> history = S.Tags.TryGetValue(tag, out var t)
            ? Enumerable.Reverse(t.History).ToArray()
            : [];
        return ValueTask.FromResult(history);
    }

    public async Task<bool> DeleteTag(string tag)
    {
        if (!S.Tags.Remove(tag, out var removed))
        {
            return false;
        }

        TagsChanged();
        S.Generation++;
        var manifest = S.Manifests.GetValueOrDefault(removed.Digest);
        Emit(RegistryEvent.Delete, manifest?.MediaType, removed.Digest, manifest?.Size ?? 0, tag, null);
        await SaveAndPublishAsync();
        return true;
    }

    public async Task<bool> DeleteManifest(string digest)
    {
        if (!S.Manifests.Remove(digest, out var manifest))
        {
            return false;
        }

        foreach (var tag in S.Tags.Where(t => t.Value.Digest == digest).Select(t => t.Key).ToList())
        {
            S.Tags.Remove(tag);
            TagsChanged();
        }

        if (manifest.Subject is { } subject && S.Referrers.TryGetValue(subject, out var referrers))
        {
            referrers.Remove(digest);
            if (referrers.Count == 0)
            {
                S.Referrers.Remove(subject);
            }
        }

        S.Generation++;
        Emit(RegistryEvent.Delete, manifest.MediaType, digest, manifest.Size, null, null);
        await SaveAndPublishAsync();
        return true;
    }

    public Task LinkBlob(string digest, long size) => AddBlobAsync(digest, size, RegistryEvent.Push, null);

    public Task MountBlob(string digest, long size, string? from) => AddBlobAsync(digest, size, RegistryEvent.Mount, from);

    public ValueTask<long?> GetBlobSize(string digest)
        => ValueTask.FromResult(S.Blobs.TryGetValue(digest, out var size) ? size : (long?)null);

    public async Task<bool> UnlinkBlob(string digest)
    {
        if (!S.Blobs.Remove(digest, out var size))
        {
            return false;
        }

        Emit(RegistryEvent.Delete, BlobMediaType, digest, size, null, null);
        await SaveAndPublishAsync();
        return true;
    }

    public ValueTask<IReadOnlyList<Referrer>> GetReferrers(string subject, string? artifactType)
    {
        if (!S.Referrers.TryGetValue(subject, out var digests))
        {
            return ValueTask.FromResult<IReadOnlyList<Referrer>>([]);
        }

        IReadOnlyList<Referrer> referrers = digests
            .Select(d => S.Manifests[d])
            .Where(m => artifactType is null || m.ArtifactType == artifactType)
            .Select(m => new Referrer(m.Digest, m.MediaType, m.Size, m.ArtifactType, m.Annotations))
            .ToArray();
        return ValueTask.FromResult(referrers);
    }

    public ValueTask<int> GetOutboxLength() => ValueTask.FromResult(S.Outbox.Count);

    public Task EventsPersisted(EventConsumers consumer, IReadOnlyList<string> eventIds)
    {
        var awaited = _outbox.Awaited;
        var removed = 0;
        foreach (var id in eventIds)
        {
            if (!_awaiting.TryGetValue(id, out var waiting))
            {
                // Acknowledged already, dropped, or from an earlier activation's publish: this one
                // publishes it again (if still in the outbox) and the consumer acknowledges that.
                continue;
            }

            waiting.Acknowledged |= consumer;
            if ((waiting.Acknowledged & awaited) != awaited)
            {
                continue;
            }

            _awaiting.Remove(id);
            var index = S.Outbox.FindIndex(e => e.Sequence == waiting.Sequence);
            if (index >= 0)
            {
                S.Outbox.RemoveAt(index);
                removed++;
            }
        }

        if (removed > 0)
        {
            Trimmed();
        }

        return Task.CompletedTask;
    }

    private const string BlobMediaType = "application/octet-stream";
    private const int PublishBatchSize = 32;

    private static readonly string? Failpoint = Environment.GetEnvironmentVariable("REGISTRY_FAILPOINT");

    /// <summary>Set REGISTRY_FAILPOINT=after-state-write to die between a durable write and its publish (tests).</summary>
    private static readonly bool CrashAfterStateWrite = Failpoint == "after-state-write";

    /// <summary>
    /// Set REGISTRY_FAILPOINT=after-publish to die once a change's event is handed to the streams and
    /// the outbox as it then is has been written, before consumers can have stored the event (tests).
    /// The write stands for the next change's, which would carry a removal of the published event.
    /// </summary>
    private static readonly bool CrashAfterPublish = Failpoint == "after-publish";

    private async Task AddBlobAsync(string digest, long size, string action, string? from)
    {
        if (!S.Blobs.TryAdd(digest, size))
        {
            return;
        }

        Emit(action, BlobMediaType, digest, size, null, "blobs", from);
        await SaveAndPublishAsync();
    }

    /// <summary>Puts the event of a change into the outbox, in the same turn as the change.</summary>
    private void Emit(string action, string? mediaType, string? digest, long size, string? tag, string? urlKind, string? from = null)
    {
        var origin = ChangeOrigin.Current;
        var url = urlKind is not null && digest is not null && origin.Request.Host.Length > 0
            ? $"http://{origin.Request.Host}/v2/{Name}/{urlKind}/{digest}"
            : null;
        var target = new EventTarget(mediaType, digest, size, Name, from, url, tag);
        var @event = new RegistryEvent(Guid.NewGuid().ToString("N"), _time.GetUtcNow(), action, target, origin.Request, origin.Actor, origin.Source, S.Generation);
        S.Outbox.Add(new OutboxEntry(++S.EventSequence, @event));
    }

    /// <summary>
    /// Makes the change durable, then publishes its event before acknowledging. The event was
    /// written with the change (outbox), so a crash in between loses nothing: the next activation
    /// publishes it, and consumers drop the duplicate a crash after publishing may cause.
    /// </summary>
    private async Task SaveAndPublishAsync()
    {
        await _commit.CommitAsync();
        if (CrashAfterStateWrite)
        {
            Environment.FailFast("REGISTRY_FAILPOINT after-state-write");
        }

        await PublishAsync();
        if (CrashAfterPublish)
        {
            await _state.WriteStateAsync();
            Environment.FailFast("REGISTRY_FAILPOINT after-publish");
        }
    }

    private async Task WriteAsync()
    {
        if (!S.InCatalog)
        {
            await GrainFactory.GetGrain<ICatalogGrain>(0).Add(Name);
            S.InCatalog = true;
        }

        var covering = S.EventSequence;
        var trims = _trims;
        await _state.WriteStateAsync();
        _durableSequence = Math.Max(_durableSequence, covering);
        _storedTrims = Math.Max(_storedTrims, trims);
    }

    /// <summary>Events left the outbox: the next write records it, or the deferred one.</summary>
    private void Trimmed()
    {
        _trims++;
        EnsureOutboxTimer();
    }

    /// <summary>
    /// A one-shot timer while the outbox has a removal to record or events waiting for
    /// acknowledgements; it does not keep the activation alive (deactivation records removals too).
    /// </summary>
    private void EnsureOutboxTimer()
    {
        if (_outboxTimer is not null || (_trims == _storedTrims && _awaiting.Count == 0))
        {
            return;
        }

        var due = _outbox.TrimDelay > TimeSpan.Zero ? _outbox.TrimDelay : TimeSpan.FromSeconds(1);
        _outboxTimer = this.RegisterGrainTimer(OnOutboxTimerAsync, new GrainTimerCreationOptions(due, Timeout.InfiniteTimeSpan)
        {
            Interleave = true,
            KeepAlive = false,
        });
    }

    private async Task OnOutboxTimerAsync(CancellationToken cancellationToken)
    {
        _outboxTimer?.Dispose();
        _outboxTimer = null;
        DropBeyondBounds(_time.GetUtcNow());
        try
        {
            if (_trims != _storedTrims)
            {
                await _commit.CommitAsync();
            }
        }
        catch (Exception e)
        {
            // The activation is being replaced (GroupCommit); what is stored goes out once more.
            RepositoryLog.OutboxTrimFailed(_logger, e, Name);
            return;
        }

        EnsureOutboxTimer();
    }

    /// <summary>Publishes the durable outbox events this activation has not published, in order, one publisher at a time.</summary>
    private async Task PublishAsync()
    {
        while (HasUnpublished())
        {
            if (_publishing is { IsCompleted: false } running)
            {
                await running;
                continue;
            }

            _publishing = PublishDurableAsync();
            try
            {
                await _publishing;
            }
            catch (Exception e)
            {
                // The events stay in the outbox; the next change or activation publishes them.
                RepositoryLog.PublishFailed(_logger, e, Name);
                return;
            }
        }
    }

    /// <summary>Whether the outbox holds a durable event this activation has not published.</summary>
    private bool HasUnpublished()
    {
        // The outbox is ordered by sequence; published events waiting for acknowledgements come first.
        for (var i = S.Outbox.Count - 1; i >= 0; i--)
        {
            var sequence = S.Outbox[i].Sequence;
            if (sequence <= _publishedSequence)
            {
                return false;
            }

            if (sequence <= _durableSequence)
            {
                return true;
            }
        }

        return false;
    }

    private async Task PublishDurableAsync()
    {
        var batch = S.Outbox.Where(e => e.Sequence > _publishedSequence && e.Sequence <= _durableSequence).ToList();
        var provider = this.GetStreamProvider(RegistryStreams.Provider);
        var all = provider.GetStream<RegistryEvent>(RegistryStreams.All);
        var ns = provider.GetStream<RegistryEvent>(RegistryStreams.OfNamespace(batch[0].Event.Namespace));
        var awaited = _outbox.Awaited;

        // Batches of a few dozen: one queue message each, within Azure Queue's 64 KiB message limit.
        foreach (var chunk in batch.Chunk(PublishBatchSize))
        {
            var events = chunk.Select(e => e.Event).ToArray();
            await all.OnNextBatchAsync(events);
            await ns.OnNextBatchAsync(events);
            _publishedSequence = chunk[^1].Sequence;
            if (awaited == EventConsumers.None)
            {
                // A durable stream has them now.
                S.Outbox.RemoveRange(0, chunk.Length);
                Trimmed();
                continue;
            }

            var now = _time.GetUtcNow();
            foreach (var entry in chunk)
            {
                _awaiting[entry.Event.Id] = new AwaitedEvent(entry.Sequence, now);
            }
        }

        if (awaited != EventConsumers.None)
        {
            DropBeyondBounds(_time.GetUtcNow());
            EnsureOutboxTimer();
        }
    }

    /// <summary>
    /// Keeps the outbox bounded when acknowledgements do not come (a consumer failing for good):
    /// the oldest published events beyond <see cref="EventOutboxOptions.Capacity"/> or older than
    /// <see cref="EventOutboxOptions.MaxAge"/> are dropped. They were published; only their
    /// redelivery after a crash is given up.
    /// </summary>
    private void DropBeyondBounds(DateTimeOffset now)
    {
        var capacity = Math.Max(0, _outbox.Capacity);
        var drop = 0;
        var missing = EventConsumers.None;
        while (drop < S.Outbox.Count
            && S.Outbox[drop].Sequence <= _publishedSequence
            && _awaiting.TryGetValue(S.Outbox[drop].Event.Id, out var waiting)
            && (_awaiting.Count > capacity || now - waiting.PublishedAt > _outbox.MaxAge))
        {
            missing |= _outbox.Awaited & ~waiting.Acknowledged;
            _awaiting.Remove(S.Outbox[drop].Event.Id);
            drop++;
        }

        if (drop == 0)
        {
            return;
        }

        S.Outbox.RemoveRange(0, drop);
        _metrics.Dropped(drop);
        RepositoryLog.OutboxDropped(_logger, drop, Name, missing, _outbox.Capacity, _outbox.MaxAge);
        Trimmed();
    }

    /// <summary>A published event waiting for the consumers' acknowledgements.</summary>
    private sealed class AwaitedEvent(long sequence, DateTimeOffset publishedAt)
    {
        public long Sequence { get; } = sequence;

        public DateTimeOffset PublishedAt { get; } = publishedAt;

        public EventConsumers Acknowledged { get; set; }
    }
}

internal static partial class RepositoryLog
{
    [LoggerMessage(1, LogLevel.Warning, "Publishing events of {Repository} failed; they stay in its outbox")]
    public static partial void PublishFailed(ILogger logger, Exception exception, string repository);

    [LoggerMessage(2, LogLevel.Information, "Could not record that events of {Repository} left its outbox; they are published once more")]
    public static partial void OutboxTrimFailed(ILogger logger, Exception exception, string repository);

    [LoggerMessage(3, LogLevel.Warning, "Dropped {Count} published events of {Repository} from its outbox unacknowledged by {Missing} (Capacity {Capacity}, MaxAge {MaxAge}): a crash may lose them")]
    public static partial void OutboxDropped(ILogger logger, int count, string repository, EventConsumers missing, int capacity, TimeSpan maxAge);
}
