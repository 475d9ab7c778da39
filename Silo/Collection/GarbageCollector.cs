using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Registry.Grains;
using Registry.Storage;

namespace Registry.Silo;

/// <summary>Collections' figures: <c>registry.gc.*</c> counters, summed over runs.</summary>
public sealed class GarbageCollectionMetrics(RegistryMeter registry)
{
    private readonly Counter<long> _runs = registry.Meter.CreateCounter<long>("registry.gc.runs", "{run}", "Garbage collections finished (dry runs included).");
    private readonly Counter<long> _examined = registry.Meter.CreateCounter<long>("registry.gc.blobs_examined", "{blob}", "Stored blobs a collection listed.");
    private readonly Counter<long> _reclaimed = registry.Meter.CreateCounter<long>("registry.gc.blobs_reclaimed", "{blob}", "Blobs a collection deleted.");
    private readonly Counter<long> _bytes = registry.Meter.CreateCounter<long>("registry.gc.bytes_reclaimed", "By", "Bytes a collection deleted.");

    public void Finished(GarbageCollectionReport report)
    {
        _runs.Add(1);
        _examined.Add(report.BlobsExamined);
        _reclaimed.Add(report.BlobsReclaimed);
        _bytes.Add(report.BytesReclaimed);
    }
}

/// <summary>
/// One collection: list storage, mark what the repositories reference, delete the rest that is
/// older than the grace period and untouched since the listing (docs/garbage-collection.md).
/// </summary>
public sealed partial class GarbageCollector(
    IBlobStore store,
    IGrainFactory grains,
    GarbageCollectionMetrics metrics,
    IOptions<RegistryOptions> options,
    TimeProvider time,
    ILogger<GarbageCollector> logger) : IGarbageCollector
{
    /// <summary>How many reclaimed digests a report names; the counts are always complete.</summary>
    public const int ReportedDigestsLimit = 1000;

    private const int CatalogPage = 1000;

    public async Task<GarbageCollectionReport> CollectAsync(GarbageCollectionRun run, DateTimeOffset now, CancellationToken cancellationToken)
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
        var repositories = await MarkAsync(candidates, cancellationToken);

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
            }

            reclaimed++;
            reclaimedBytes += blob.Size;
            if (digests.Count < ReportedDigestsLimit)
            {
                digests.Add(blob.Digest);
            }
        }

        var report = new GarbageCollectionReport(run.Id, run.DryRun, run.StartedAt, time.GetUtcNow(), examined, examinedBytes, reclaimed, reclaimedBytes, digests, null, run.Attempt, repositories);
        metrics.Finished(report);
        return report;
    }

    private async Task<long> MarkAsync(Dictionary<string, ListedBlob> candidates, CancellationToken cancellationToken)
    {
        long repositories = 0;
        string? last = null;
        while (true)
        {
            var page = await RegistryCatalog.ListAsync(grains, last, CatalogPage);
            foreach (var name in page.Names)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var references = await grains.GetGrain<IRepositoryGrain>(name).GetReferences();
                repositories++;
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

    [LoggerMessage(1, LogLevel.Information, "Garbage collection {RunId} deleted blob {Digest} ({Size} bytes)")]
    private static partial void LogDeleted(ILogger logger, string runId, string digest, long size);
}
