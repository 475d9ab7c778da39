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
/// </remarks>
[Reentrant]
public sealed class RepositoryGrain : Grain, IRepositoryGrain
{
    private readonly IPersistentState<RepositoryState> _state;
    private readonly IOptions<RepositoryGrainOptions> _options;
    private readonly TimeProvider _time;
    private readonly GroupCommit _commit;
    private readonly ILogger<RepositoryGrain> _logger;
    private string[]? _sortedTags;
    private (string? Last, int Limit, TagsListing Listing)? _lastListing;

    /// <summary>The last event sequence number included in a completed state write.</summary>
    private long _durableSequence;

    /// <summary>Whether published events were dropped from the outbox since the last write.</summary>
    private bool _outboxTrimmed;

    private Task? _publishing;

    public RepositoryGrain(
        [PersistentState("repository", RegistryStorage.Name)] IPersistentState<RepositoryState> state,
        IOptions<RepositoryGrainOptions> options,
        TimeProvider time,
        ILogger<RepositoryGrain> logger)
    {
        _logger = logger;
        _state = state;
        _options = options;
        _time = time;
        _commit = new GroupCommit(WriteAsync, DeactivateOnIdle);
    }

    private RepositoryState S => _state.State;

    private string Name => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Everything loaded is durable; events a crash kept from being published go out now.
        _durableSequence = S.EventSequence;
        await PublishAsync();
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_outboxTrimmed && reason.ReasonCode != DeactivationReasonCode.ApplicationError)
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

    public async Task<ManifestPushResult> PutManifest(ManifestPush push)
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

    private const string BlobMediaType = "application/octet-stream";
    private const int PublishBatchSize = 32;

    /// <summary>Set REGISTRY_FAILPOINT=after-state-write to die between a durable write and its publish (tests).</summary>
    private static readonly bool CrashAfterStateWrite = Environment.GetEnvironmentVariable("REGISTRY_FAILPOINT") == "after-state-write";

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
    }


    private async Task WriteAsync()
    {
        if (!S.InCatalog)
        {
            await GrainFactory.GetGrain<ICatalogGrain>(0).Add(Name);
            S.InCatalog = true;
        }

        var covering = S.EventSequence;
        await _state.WriteStateAsync();
        _durableSequence = Math.Max(_durableSequence, covering);
        _outboxTrimmed = false;
    }

    /// <summary>Publishes durable outbox events in order, one publisher at a time.</summary>
    private async Task PublishAsync()
    {
        while (S.Outbox.Count > 0 && S.Outbox[0].Sequence <= _durableSequence)
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

    private async Task PublishDurableAsync()
    {
        var batch = S.Outbox.TakeWhile(e => e.Sequence <= _durableSequence).ToList();
        var provider = this.GetStreamProvider(RegistryStreams.Provider);
        var all = provider.GetStream<RegistryEvent>(RegistryStreams.All);
        var ns = provider.GetStream<RegistryEvent>(RegistryStreams.OfNamespace(batch[0].Event.Namespace));

        // Batches of a few dozen: one queue message each, within Azure Queue's 64 KiB message limit.
        foreach (var chunk in batch.Select(e => e.Event).Chunk(PublishBatchSize))
        {
            await all.OnNextBatchAsync(chunk);
            await ns.OnNextBatchAsync(chunk);
        }

        S.Outbox.RemoveRange(0, batch.Count);
        _outboxTrimmed = true;
    }
}

internal static partial class RepositoryLog
{
    [LoggerMessage(1, LogLevel.Warning, "Publishing events of {Repository} failed; they stay in its outbox")]
    public static partial void PublishFailed(ILogger logger, Exception exception, string repository);

    [LoggerMessage(2, LogLevel.Information, "Could not record published events of {Repository} at deactivation")]
    public static partial void OutboxTrimFailed(ILogger logger, Exception exception, string repository);
}
