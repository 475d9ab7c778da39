using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Runtime;
using Orleans.Streams;

namespace Registry.Grains;

/// <remarks>
/// Reentrant so that concurrent mutations share state writes (<see cref="GroupCommit"/>). Every method
/// validates and applies its change synchronously, within one turn, before its first await; so each
/// change is atomic, and none is acknowledged before a write that includes it has completed. Each
/// change's event goes into the state with it and is published from there (<see cref="EventOutbox"/>).
/// </remarks>
[Reentrant]
public sealed partial class RepositoryGrain : Grain, IRepositoryGrain
{
    private const string BlobMediaType = "application/octet-stream";

    private readonly IPersistentState<RepositoryState> _state;
    private readonly IOptions<RepositoryGrainOptions> _options;
    private readonly TimeProvider _time;
    private readonly IRepositoryFaults? _faults;
    private readonly GroupCommit _commit;
    private readonly EventOutbox _outbox;
    private readonly OutboxRecord _record;
    private readonly TagsPages _tags = new();
    private readonly RepositoryCatalogEntry _catalog;
    private readonly RepositoryUsage _usage;
    private readonly ILogger<RepositoryGrain> _logger;
    private IAsyncStream<RegistryEvent>? _allEvents;
    private IAsyncStream<RegistryEvent>? _namespaceEvents;

    /// <param name="faults">A test host's crash points; production registers none.</param>
    public RepositoryGrain(
        [PersistentState("repository", GrainStorageNames.Provider)] IPersistentState<RepositoryState> state,
        IOptions<RepositoryGrainOptions> options,
        IOptions<EventOutboxOptions> outbox,
        EventOutboxMetrics metrics,
        TimeProvider time,
        ILogger<RepositoryGrain> logger,
        IRepositoryFaults? faults = null)
    {
        _state = state;
        _logger = logger;
        _options = options;
        _time = time;
        _faults = faults;
        _commit = new GroupCommit(WriteAsync, DeactivateOnIdle);
        _outbox = new EventOutbox(this.GetPrimaryKeyString(), () => _state.State, _commit.CommitAsync, PublishAsync, StartTimer, outbox.Value, metrics, time, logger);
        _catalog = new RepositoryCatalogEntry(this.GetPrimaryKeyString(), () => _state.State, () => GrainFactory, time);
        _record = new OutboxRecord(this.GetPrimaryKeyString(), () => GrainFactory.GetGrain<IOutboxDirectoryGrain>(0), logger);
        _usage = new RepositoryUsage(this.GetPrimaryKeyString(), () => GrainFactory, logger);
    }

    private RepositoryState S => _state.State;

    private string Name => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        await _record.ActivatedAsync(_outbox.Count);
        await _catalog.ActivateAsync();
        await _outbox.ActivateAsync();
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (reason.ReasonCode == DeactivationReasonCode.ApplicationError)
        {
            return;
        }

        await _outbox.FlushAsync();

        // Not while the silo stops (the directory may be gone already): a stale record costs one activation at the next start.
        if (reason.ReasonCode != DeactivationReasonCode.ShuttingDown)
        {
            await _record.ClearAsync(_outbox.Count == 0 && !_outbox.HasUnrecordedRemovals);
        }
    }

    public async ValueTask<ManifestPushResult?> CheckManifest(ManifestPush push)
        => ImmutableTagCheck.Refusal(S, push) ?? S.Refusal(push) ?? await _usage.CheckAsync(S, push);

    public async Task<ManifestPushResult> PutManifest(ManifestPush push)
    {
        if (await IsRetryOfAppliedCallAsync())
        {
            return new ManifestPushResult(ManifestPushOutcome.Accepted, null, S.Generation);
        }

        var manifest = push.Manifest;
        using (await _usage.EnterAsync())
        {
            // The namespace quota admits the manifest's bytes (docs/quotas.md); the turn keeps the checks true until the change.
            if ((ImmutableTagCheck.Refusal(S, push) ?? S.Refusal(push) ?? await _usage.AdmitAsync(S, push)) is { } refused)
            {
                return refused;
            }

            S.RecordApplied(FailoverCall.Id, _time.GetUtcNow());
            S.AddManifest(manifest, push.Blobs.Concat(push.ChildManifests));
            RepositoryPruning.ManifestPushed(S, manifest.Digest, push.Blobs, _time.GetUtcNow());
            IEnumerable<string?> tags = push.Tag is null ? [null] : push.AllTags.Cast<string?>();
            foreach (var tag in tags)
            {
                if (tag is not null && S.MoveTag(tag, manifest.Digest, _time.GetUtcNow(), _options.Value.TagHistoryLimit))
                {
                    _tags.Changed();
                }

                Emit(RegistryEvent.Push, manifest.MediaType, manifest.Digest, manifest.Size, tag);
            }

            // Tracking tags follow the tags this push moved, in the same turn.
            MoveTrackingTags(push.AllTags, push.ImmutableTagRules);
        }

        await SaveAndPublishAsync();
        return new ManifestPushResult(ManifestPushOutcome.Accepted, null, S.Generation);
    }

    public ValueTask<ManifestDescriptor?> ResolveTag(string tag)
        => ValueTask.FromResult(S.Tags.TryGetValue(tag, out var t) ? S.Manifests.GetValueOrDefault(t.Digest) : null);

    public ValueTask<ManifestDescriptor?> GetManifest(string digest)
        => ValueTask.FromResult(S.Manifests.GetValueOrDefault(digest));

    public ValueTask<TagsListing?> ListTags(string? last, int limit)
        => ValueTask.FromResult(S.IsEmpty ? null : _tags.Page(S.Tags.Keys, last, limit));

    public ValueTask<IReadOnlyList<TagHistoryEntry>> GetTagHistory(string tag)
    {
        IReadOnlyList<TagHistoryEntry> history = S.Tags.TryGetValue(tag, out var t)
            ? Enumerable.Reverse(t.History).ToArray()
            : [];
        return ValueTask.FromResult(history);
    }

    public ValueTask<ImageStreamView?> GetImageStream()
        => ValueTask.FromResult(S.IsEmpty ? null : S.ImageStream());

    public ValueTask<ManifestPage> ListManifests(string? after, int limit)
        => ValueTask.FromResult(S.ManifestsAfter(after, limit));

    public async Task<bool> DeleteTag(string tag)
    {
        if (await IsRetryOfAppliedCallAsync())
        {
            return true;
        }

        if (!S.Tags.Remove(tag, out var removed))
        {
            return false;
        }

        S.RecordApplied(FailoverCall.Id, _time.GetUtcNow());

        _tags.Changed();
        S.Generation++;
        var manifest = S.Manifests.GetValueOrDefault(removed.Digest);
        Emit(RegistryEvent.Delete, manifest?.MediaType, removed.Digest, manifest?.Size ?? 0, tag);
        await SaveAndPublishAsync();
        return true;
    }

    public async Task<bool> DeleteManifest(string digest)
    {
        if (await IsRetryOfAppliedCallAsync())
        {
            return true;
        }

        using (await _usage.EnterAsync())
        {
            if (!S.RemoveManifest(digest, out var manifest))
            {
                return false;
            }

            S.RecordApplied(FailoverCall.Id, _time.GetUtcNow());

            _tags.Changed();
            Emit(RegistryEvent.Delete, manifest.MediaType, digest, manifest.Size, null);
            await _usage.ReleaseAsync(S, digest);
        }

        await SaveAndPublishAsync();
        return true;
    }

    // A retry of an applied call goes through: its first attempt passed the check.
    public async Task<GuardedDeleteResult> DeleteTagGuarded(string tag, IReadOnlyList<ImmutableTagRule> rules)
        => (!S.WasApplied(FailoverCall.Id) ? ImmutableTagCheck.TagDeleteRefusal(S, tag, rules) : null) ?? new(await DeleteTag(tag));

    public async Task<GuardedDeleteResult> DeleteManifestGuarded(string digest, IReadOnlyList<ImmutableTagRule> rules)
        => (!S.WasApplied(FailoverCall.Id) ? ImmutableTagCheck.ManifestDeleteRefusal(S, digest, rules) : null) ?? new(await DeleteManifest(digest));

    public Task<QuotaRefusal?> LinkBlob(string digest, long size) => AddBlobAsync(digest, size, RegistryEvent.Push, null);

    public Task<QuotaRefusal?> MountBlob(string digest, long size, string? from) => AddBlobAsync(digest, size, RegistryEvent.Mount, from);

    public ValueTask<long?> GetBlobSize(string digest)
        => ValueTask.FromResult(S.Blobs.TryGetValue(digest, out var size) ? size : (long?)null);

    public async Task<bool> UnlinkBlob(string digest)
    {
        if (await IsRetryOfAppliedCallAsync())
        {
            return true;
        }

        using (await _usage.EnterAsync())
        {
            if (!S.Blobs.Remove(digest, out var size))
            {
                return false;
            }

            S.RecordApplied(FailoverCall.Id, _time.GetUtcNow());

            Emit(RegistryEvent.Delete, BlobMediaType, digest, size, null);
            await _usage.ReleaseAsync(S, digest);
        }

        await SaveAndPublishAsync();
        return true;
    }

    public ValueTask<IReadOnlyList<Referrer>> GetReferrers(string subject, string? artifactType)
        => ValueTask.FromResult(S.ReferrersOf(subject, artifactType));

    public ValueTask<RepositoryReferences> GetReferences() => ValueTask.FromResult(S.References());

    public async Task<bool> RemoveIfEmpty()
    {
        var removal = MarkUnlistedIfEmpty();
        if (removal is CatalogRemoval.NotEmpty or CatalogRemoval.NeverListed)
        {
            return removal == CatalogRemoval.NeverListed;
        }

        await SaveAndPublishAsync();
        return true;
    }

    public async Task<PruneResult> Prune(PruneRequest request)
    {
        // Decided and applied in this turn: a push or link that lands first is seen, one after finds the state pruned.
        PruneResult plan;
        bool changed;
        using (await _usage.EnterAsync())
        {
            plan = RepositoryPruning.Plan(S, request, _time.GetUtcNow(), out changed);
            if (!request.DryRun && (plan.Manifests.Count > 0 || plan.Links.Count > 0 || changed))
            {
                RepositoryPruning.Apply(
                    S,
                    plan,
                    (mediaType, digest, size) => Emit(RegistryEvent.Delete, mediaType, digest, size, null),
                    (digest, size) => Emit(RegistryEvent.Delete, BlobMediaType, digest, size, null));
                _tags.Changed();
                foreach (var digest in plan.Manifests.Concat(plan.Links).Distinct(StringComparer.Ordinal))
                {
                    await _usage.ReleaseAsync(S, digest);
                }
            }
        }

        if (!request.DryRun && (plan.Manifests.Count > 0 || plan.Links.Count > 0 || changed))
        {
            await SaveAndPublishAsync();
        }

        return plan;
    }

    public ValueTask<int> GetOutboxLength() => ValueTask.FromResult(_outbox.Count);

    public Task EventsPersisted(EventConsumers consumer, IReadOnlyList<string> eventIds)
    {
        _outbox.Acknowledge(consumer, eventIds);
        return Task.CompletedTask;
    }

    public Task WakeOutbox()
    {
        // Activating published the outbox; an activation with nothing to publish and no change of its own goes again.
        _record.Woken();
        if (_outbox.Count == 0 && !_outbox.HasUnrecordedRemovals && !_record.Recorded)
        {
            DeactivateOnIdle();
        }

        return Task.CompletedTask;
    }

    public async Task<TagMoveResult> TagManifest(TagMove move)
    {
        if (await IsRetryOfAppliedCallAsync())
        {
            return new TagMoveResult(TagMoveOutcome.Moved, S.EventSequence);
        }

        if (S.Refusal(move) is { } refused)
        {
            return new TagMoveResult(refused, S.EventSequence);
        }

        // Immutable tag rules refuse in this turn, as they would a push by tag.
        if (ImmutableTagCheck.Refusal(S, move) is { } immutable)
        {
            return immutable;
        }

        S.RecordApplied(FailoverCall.Id, _time.GetUtcNow());
        var manifest = S.Manifests[move.Digest];
        if (S.MoveTag(move.Tag, move.Digest, _time.GetUtcNow(), _options.Value.TagHistoryLimit))
        {
            _tags.Changed();
        }

        Emit(RegistryEvent.Push, manifest.MediaType, manifest.Digest, manifest.Size, move.Tag);
        MoveTrackingTags([move.Tag], move.ImmutableTagRules);
        await SaveAndPublishAsync();
        return new TagMoveResult(TagMoveOutcome.Moved, S.EventSequence);
    }

    public async Task<GuardedDeleteResult> DeleteImageStream(IReadOnlyList<ImmutableTagRule> rules)
    {
        if (await IsRetryOfAppliedCallAsync())
        {
            return new(true);
        }

        if (S.IsEmpty)
        {
            return new(false);
        }

        using (await _usage.EnterAsync())
        {
            // Checked in the turn, so a tag pushed meanwhile is seen.
            if (ImmutableTagCheck.StreamDeleteRefusal(S, rules) is { } protectedTag)
            {
                return protectedTag;
            }

            S.RecordApplied(FailoverCall.Id, _time.GetUtcNow());
            S.RemoveStream((mediaType, digest, size, tag) => Emit(RegistryEvent.Delete, mediaType, digest, size, tag));
            _tags.Changed();
            await _usage.ReleaseAllAsync(S);
        }

        MarkUnlistedIfEmpty();
        await SaveAndPublishAsync();
        return new(true);
    }

    public ValueTask<Dictionary<string, long>> GetHeldDigests() => ValueTask.FromResult(S.HeldDigests());

    private async Task<QuotaRefusal?> AddBlobAsync(string digest, long size, string action, string? from)
    {
        using (await _usage.EnterAsync())
        {
            if (S.Blobs.ContainsKey(digest))
            {
                // Used again: recorded (and written) only when the recorded use is old, for pruning.
                if (!RepositoryPruning.Relinked(S, digest, _time.GetUtcNow(), _options.Value.LinkUseResolution))
                {
                    return null;
                }
            }
            else
            {
                if (await _usage.AdmitAsync(S, digest, size) is { } refused)
                {
                    return refused;
                }

                S.Blobs.Add(digest, size);
                RepositoryPruning.Linked(S, digest, _time.GetUtcNow());
                Emit(action, BlobMediaType, digest, size, null, from);
            }
        }

        await SaveAndPublishAsync();
        return null;
    }

    /// <summary>
    /// In the caller's turn: an empty repository is marked out of the catalog, with its
    /// <c>repository.removed</c> event; the next state write removes the name (any deletion that may
    /// leave the repository empty can call it before its write).
    /// </summary>
    private CatalogRemoval MarkUnlistedIfEmpty()
    {
        var removal = _catalog.MarkRemovedIfEmpty();
        if (removal == CatalogRemoval.Unlisting)
        {
            Emit(RegistryEvent.RepositoryRemoved, null, null, 0, null);
        }

        return removal;
    }

    /// <summary>
    /// Whether this call is the retry of one whose change the state holds already (its first attempt
    /// was applied, its answer lost with a silo): then it is only made durable again, in case the
    /// first attempt's write is still in flight, and answered as the first attempt was.
    /// </summary>
    private async ValueTask<bool> IsRetryOfAppliedCallAsync()
    {
        if (!S.WasApplied(FailoverCall.Id))
        {
            return false;
        }

        await SaveAndPublishAsync();
        return true;
    }

    /// <summary>
    /// Puts the event of a change into the outbox, in the same turn as the change. Who caused it,
    /// and the URL of its target, come from the HTTP host (<see cref="ChangeOrigin"/>).
    /// </summary>
    private void Emit(string action, string? mediaType, string? digest, long size, string? tag, string? from = null)
    {
        var origin = ChangeOrigin.Current;
        var target = new EventTarget(mediaType, digest, size, Name, from, origin.TargetUrl, tag);
        _outbox.Add(new RegistryEvent(Guid.NewGuid().ToString("N"), _time.GetUtcNow(), action, target, origin.Request, origin.Actor, origin.Source, S.Generation));
    }

    /// <summary>
    /// Makes the change durable, then publishes its event before acknowledging. The event was
    /// written with the change (outbox), so a crash in between loses nothing: the next activation
    /// publishes it, and consumers drop the duplicate a crash after publishing may cause.
    /// </summary>
    private async Task SaveAndPublishAsync()
    {
        await _commit.CommitAsync();
        _faults?.AfterStateWrite();
        await _outbox.PublishAsync();
        if (_faults is not null)
        {
            await _faults.AfterPublishAsync(_state.WriteStateAsync);
        }
    }

    private async Task WriteAsync()
    {
        await _record.EnsureAsync(_outbox.Count);
        await _catalog.WriteAsync(() => _outbox.TrackWriteAsync(_state.WriteStateAsync));
    }

    /// <summary>Hands a batch of events to the registry-wide stream and to the repository's namespace stream.</summary>
    private async Task PublishAsync(IReadOnlyList<RegistryEvent> events)
    {
        if (_faults is { HoldsEvents: true })
        {
            return;
        }

        var provider = this.GetStreamProvider(RegistryStreams.Provider);
        _allEvents ??= provider.GetStream<RegistryEvent>(RegistryStreams.All);
        _namespaceEvents ??= provider.GetStream<RegistryEvent>(RegistryStreams.OfNamespace(events[0].Namespace));
        await _allEvents.OnNextBatchAsync(events);
        await _namespaceEvents.OnNextBatchAsync(events);
    }

    /// <summary>A one-shot timer that interleaves with calls and does not keep the activation alive.</summary>
    private IDisposable StartTimer(Func<CancellationToken, Task> callback, TimeSpan due)
        => this.RegisterGrainTimer(callback, new GrainTimerCreationOptions(due, Timeout.InfiniteTimeSpan)
        {
            Interleave = true,
            KeepAlive = false,
        });
}
