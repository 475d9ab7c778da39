using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Runtime;

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
    private string[]? _sortedTags;

    public RepositoryGrain(
        [PersistentState("repository", RegistryStorage.Name)] IPersistentState<RepositoryState> state,
        IOptions<RepositoryGrainOptions> options,
        TimeProvider time)
    {
        _state = state;
        _options = options;
        _time = time;
        _commit = new GroupCommit(WriteAsync);
    }

    private RepositoryState S => _state.State;

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
                _sortedTags = null;
            }

            tagState.Digest = manifest.Digest;
            tagState.History.Add(new TagHistoryEntry(manifest.Digest, _time.GetUtcNow(), ++S.Generation));
            var excess = tagState.History.Count - _options.Value.TagHistoryLimit;
            if (excess > 0)
            {
                tagState.History.RemoveRange(0, excess);
            }
        }

        await SaveAsync();
        return new ManifestPushResult(ManifestPushOutcome.Accepted, null, S.Generation);
    }

    public ValueTask<ManifestDescriptor?> ResolveTag(string tag)
        => ValueTask.FromResult(S.Tags.TryGetValue(tag, out var t) ? S.Manifests.GetValueOrDefault(t.Digest) : null);

    public ValueTask<ManifestDescriptor?> GetManifest(string digest)
        => ValueTask.FromResult(S.Manifests.GetValueOrDefault(digest));

    public ValueTask<NamePage?> ListTags(string? last, int limit)
    {
        if (S.IsEmpty)
        {
            return ValueTask.FromResult<NamePage?>(null);
        }

        _sortedTags ??= S.Tags.Keys.Order(StringComparer.Ordinal).ToArray();
        return ValueTask.FromResult<NamePage?>(Paging.Page(_sortedTags, last, limit));
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
        if (!S.Tags.Remove(tag))
        {
            return false;
        }

        _sortedTags = null;
        S.Generation++;
        await SaveAsync();
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
            _sortedTags = null;
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
        await SaveAsync();
        return true;
    }

    public async Task LinkBlob(string digest, long size)
    {
        if (S.Blobs.TryAdd(digest, size))
        {
            await SaveAsync();
        }
    }

    public ValueTask<long?> GetBlobSize(string digest)
        => ValueTask.FromResult(S.Blobs.TryGetValue(digest, out var size) ? size : (long?)null);

    public async Task<bool> UnlinkBlob(string digest)
    {
        if (!S.Blobs.Remove(digest))
        {
            return false;
        }

        await SaveAsync();
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

    /// <summary>
    /// Makes the in-memory state durable. When a write fails the activation is dropped, so the next
    /// call reloads what is really stored instead of serving an unacknowledged change.
    /// </summary>
    private async Task SaveAsync()
    {
        try
        {
            await _commit.CommitAsync();
        }
        catch
        {
            DeactivateOnIdle();
            throw;
        }
    }

    private async Task WriteAsync()
    {
        if (!S.InCatalog)
        {
            await GrainFactory.GetGrain<ICatalogGrain>(0).Add(this.GetPrimaryKeyString());
            S.InCatalog = true;
        }

        await _state.WriteStateAsync();
    }
}
