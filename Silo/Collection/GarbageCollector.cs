using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Registry.Grains;
using Registry.Storage;

namespace Registry.Silo;

/// <summary>Collections' figures: <c>registry.gc.*</c> counters, summed over runs (what was reclaimed: real runs only).</summary>
public sealed class GarbageCollectionMetrics(RegistryMeter registry)
{
    private readonly Counter<long> _runs = registry.Meter.CreateCounter<long>("registry.gc.runs", "{run}", "Garbage collections finished (dry runs included).");
    private readonly Counter<long> _examined = registry.Meter.CreateCounter<long>("registry.gc.blobs_examined", "{blob}", "Stored blobs a collection listed.");
    private readonly Counter<long> _reclaimed = registry.Meter.CreateCounter<long>("registry.gc.blobs_reclaimed", "{blob}", "Blobs a collection deleted.");
    private readonly Counter<long> _bytes = registry.Meter.CreateCounter<long>("registry.gc.bytes_reclaimed", "By", "Bytes a collection deleted.");
    private readonly Counter<long> _strays = registry.Meter.CreateCounter<long>("registry.gc.strays_reclaimed", "{file}", "Crash leftovers (temporary files, orphaned staged bytes) a collection deleted.");
    private readonly Counter<long> _strayBytes = registry.Meter.CreateCounter<long>("registry.gc.stray_bytes_reclaimed", "By", "Bytes of crash leftovers a collection deleted.");
    private readonly Counter<long> _uploads = registry.Meter.CreateCounter<long>("registry.gc.uploads_reclaimed", "{upload}", "Expired upload sessions whose staging a collection removed.");
    private readonly Counter<long> _uploadBytes = registry.Meter.CreateCounter<long>("registry.gc.upload_bytes_reclaimed", "By", "Staged bytes of expired uploads a collection removed.");
    private readonly Counter<long> _manifests = registry.Meter.CreateCounter<long>("registry.gc.manifests_removed", "{manifest}", "Untagged manifests a collection deleted (Registry:GarbageCollection:RemoveUntagged).");
    private readonly Counter<long> _links = registry.Meter.CreateCounter<long>("registry.gc.links_removed", "{link}", "Unused repository blob links a collection removed (Registry:GarbageCollection:RemoveUnusedLinks).");
    private readonly Counter<long> _repositories = registry.Meter.CreateCounter<long>("registry.gc.repositories_removed", "{repository}", "Empty repositories a collection took out of the catalog.");

    public void Finished(GarbageCollectionReport report)
    {
        _runs.Add(1);
        _examined.Add(report.BlobsExamined);
        if (report.DryRun)
        {
            // A dry run's "reclaimed" figures are what it would have deleted: in its report, not in these sums.
            return;
        }

        _reclaimed.Add(report.BlobsReclaimed);
        _bytes.Add(report.BytesReclaimed);
        _strays.Add(report.StraysReclaimed);
        _strayBytes.Add(report.StrayBytesReclaimed);
        _uploads.Add(report.UploadsReclaimed);
        _uploadBytes.Add(report.UploadBytesReclaimed);
        _repositories.Add(report.RepositoriesRemoved);
        _manifests.Add(report.ManifestsRemoved);
        _links.Add(report.LinksRemoved);
    }
}

/// <summary>
/// One collection: list storage, mark what the repositories reference, delete the rest that is
/// older than the grace period and untouched since the listing, then expired uploads' staging and the crash leftovers, and take
/// the repositories found empty out of the catalog (docs/garbage-collection.md).
/// </summary>
public sealed partial class GarbageCollector(
    IBlobStore store,
    IGrainFactory grains,
    UploadSweeper uploads,
    GarbageCollectionMetrics metrics,
    CollectionEvents events,
    IOptions<RegistryOptions> options,
    TimeProvider time,
    ILogger<GarbageCollector> logger) : IGarbageCollector
{
    /// <summary>How many reclaimed digests a report names; the counts are always complete.</summary>
    public const int ReportedDigestsLimit = 1000;

    private const int CatalogPage = 1000;

    public async Task<GarbageCollectionReport> CollectAsync(GarbageCollectionRun run, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var published = events.Start(run);
        try
        {
            return await CollectAsync(run, now, published, cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // What was deleted before the failure had its events; the failure gets its gc.finished.
            await published.FinishedAsync(new GarbageCollectionReport(run.Id, run.DryRun, run.StartedAt, time.GetUtcNow(), 0, 0, 0, 0, [], e.Message, run.Attempt, 0));
            throw;
        }
    }

    private async Task<GarbageCollectionReport> CollectAsync(GarbageCollectionRun run, DateTimeOffset now, CollectionEvents.Run published, CancellationToken cancellationToken)
    {
        var cutoff = now - options.Value.GarbageCollection.GracePeriod;

        // 1. List first: whatever is linked after this point was touched (a new version) or stored anew.
        var candidates = new Dictionary<string, ListedBlob>(StringComparer.Ordinal);
        long examined = 0, examinedBytes = 0;
        await foreach (var blob in store.ListBlobsAsync(cancellationToken))
        {
            examined++;
            examinedBytes += blob.Size;
            if (blob.LastModified < cutoff)
            {
                candidates[blob.Digest] = blob;
            }
        }

        // 2. Mark: every repository's links, manifests and what those name keep their blobs.
        var empty = new List<string>();
        var pruning = new Pruning(PruneRequestOf(run, cutoff));
        var repositories = await MarkAsync(candidates, empty, pruning, cancellationToken);

        // 3. Sweep what is left, each delete conditional on the version listed.
        long reclaimed = 0, reclaimedBytes = 0;
        var digests = new List<string>();
        foreach (var blob in candidates.Values.OrderBy(b => b.Digest, StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!run.DryRun && !await store.DeleteIfUnchangedAsync(blob.Digest, blob.Version, cancellationToken))
            {
                continue;
            }

            if (!run.DryRun)
            {
                LogDeleted(logger, run.Id, blob.Digest, blob.Size);
                await published.BlobCollectedAsync(blob.Digest, blob.Size);
            }

            reclaimed++;
            reclaimedBytes += blob.Size;
            if (digests.Count < ReportedDigestsLimit)
            {
                digests.Add(blob.Digest);
            }
        }

        // 4. Expired uploads' staging (sessions started before now − the upload expiry, which the
        // grace period is at least), as the upload sweep removes it; then the crash leftovers, by
        // the grace period and the same conditional delete as blobs.
        var (expiredUploads, uploadBytes) = await uploads.ReclaimAsync(now, run.DryRun, cancellationToken);
        var (strays, strayBytes) = await StraySweep.RunAsync(store, cutoff, run.DryRun, run.Id, logger, cancellationToken);

        // 5. Repositories found empty leave the catalog, each deciding in its own turn (a push since the mark keeps it).
        var removed = run.DryRun ? empty.Count : await RemoveEmptyAsync(empty, cancellationToken);

        var report = new GarbageCollectionReport(
            run.Id, run.DryRun, run.StartedAt, time.GetUtcNow(), examined, examinedBytes, reclaimed, reclaimedBytes, digests, null, run.Attempt, repositories,
            strays, strayBytes, removed, pruning.Manifests, pruning.Links, expiredUploads, uploadBytes);
        metrics.Finished(report);
        await published.FinishedAsync(report);
        return report;
    }

    private async Task<long> RemoveEmptyAsync(List<string> empty, CancellationToken cancellationToken)
    {
        long removed = 0;
        foreach (var name in empty)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (await grains.GetGrain<IRepositoryGrain>(name).RemoveIfEmpty())
            {
                removed++;
            }
        }

        return removed;
    }

    /// <summary>The policies' request, or null when both are off (then the mark only reads references).</summary>
    private PruneRequest? PruneRequestOf(GarbageCollectionRun run, DateTimeOffset cutoff)
    {
        var o = options.Value.GarbageCollection;
        return o.RemoveUntagged || o.RemoveUnusedLinks ? new PruneRequest(o.RemoveUntagged, o.RemoveUnusedLinks, cutoff, run.DryRun) : null;
    }

    /// <summary>
    /// A repository's references for the mark: after its pruning when a policy is on (in a dry run,
    /// what it would need after pruning), so what pruning frees is collected in the same run.
    /// </summary>
    private async Task<RepositoryReferences> ReferencesAsync(string name, Pruning pruning, CancellationToken cancellationToken)
    {
        var repository = grains.GetGrain<IRepositoryGrain>(name);
        if (pruning.Request is not { } request)
        {
            return await repository.GetReferences();
        }

        var result = await repository.Prune(request);
        pruning.Manifests += result.Manifests.Count;
        pruning.Links += result.Links.Count;
        foreach (var digest in request.DryRun ? [] : result.Manifests)
        {
            LogPruned(logger, name, "untagged manifest", digest);
        }

        foreach (var digest in request.DryRun ? [] : result.Links)
        {
            LogPruned(logger, name, "unused link", digest);
        }

        cancellationToken.ThrowIfCancellationRequested();
        return result.References;
    }

    private sealed class Pruning(PruneRequest? request)
    {
        public PruneRequest? Request => request;

        public long Manifests { get; set; }

        public long Links { get; set; }
    }

    private async Task<long> MarkAsync(Dictionary<string, ListedBlob> candidates, List<string> empty, Pruning pruning, CancellationToken cancellationToken)
    {
        long repositories = 0;
        string? last = null;
        while (true)
        {
            var page = await RegistryCatalog.ListAsync(grains, last, CatalogPage);
            foreach (var name in page.Names)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var references = await ReferencesAsync(name, pruning, cancellationToken);
                repositories++;
                if (references.Digests.Count == 0 && references.UnrecordedManifests.Count == 0)
                {
                    empty.Add(name);
                }

                foreach (var digest in references.Digests)
                {
                    candidates.Remove(digest);
                }

                foreach (var manifest in references.UnrecordedManifests)
                {
                    await MarkNamedByAsync(manifest, candidates, cancellationToken);
                }
            }

            if (!page.More || page.Names.Count == 0)
            {
                return repositories;
            }

            last = page.Names[^1];
        }
    }

    /// <summary>
    /// A manifest pushed before its references were recorded: every digest its bytes name is kept
    /// (a superset of its config, layers and children). Unreadable bytes fail the run, deleting nothing.
    /// </summary>
    private async Task MarkNamedByAsync(string manifest, Dictionary<string, ListedBlob> candidates, CancellationToken cancellationToken)
    {
        await using var stream = await store.OpenReadAsync(manifest, 0, cancellationToken)
            ?? throw new InvalidOperationException($"manifest {manifest} is referenced but not stored; collection stopped before deleting anything");
        using var reader = new StreamReader(stream);
        var text = await reader.ReadToEndAsync(cancellationToken);
        foreach (Match match in DigestPattern().Matches(text))
        {
            candidates.Remove(match.Value);
        }
    }

    [GeneratedRegex("[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}")]
    private static partial Regex DigestPattern();

    [LoggerMessage(2, LogLevel.Information, "Garbage collection pruned {Kind} {Digest} of {Repository}")]
    private static partial void LogPruned(ILogger logger, string repository, string kind, string digest);

    [LoggerMessage(1, LogLevel.Information, "Garbage collection {RunId} deleted blob {Digest} ({Size} bytes)")]
    private static partial void LogDeleted(ILogger logger, string runId, string digest, long size);
}
