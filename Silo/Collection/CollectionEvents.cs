using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Orleans.Streams;
using Registry.Grains;

namespace Registry.Silo;

/// <summary>
/// Publishes a collection's events (<c>blob.collected</c>, <c>gc.finished</c>) to
/// <see cref="RegistryStreams.All"/> and <see cref="RegistryStreams.Collections"/> (their own event
/// log, for admin watches, and their own webhook queues). At most <see cref="BlobEventsLimit"/>
/// <c>blob.collected</c> events per run; the rest are counted in <c>gc.finished</c>.
/// </summary>
/// <remarks>
/// Best-effort, like refusal events: the deletion is done (and logged) whether or not its event
/// is published; a failed publish is logged and counted, never fails the collection. Ids are
/// derived from the run and the digest, so a resumed run's repeats are dropped by consumers.
/// </remarks>
public sealed partial class CollectionEvents(IClusterClient client, ILogger<CollectionEvents> logger)
{
    /// <summary>The most <c>blob.collected</c> events one run publishes.</summary>
    public const int BlobEventsLimit = 1000;

    private const int Batch = 32;

    /// <summary>The events of one run, batched as its sweep deletes.</summary>
    public Run Start(GarbageCollectionRun run) => new(this, run);

    private async Task PublishAsync(IReadOnlyList<RegistryEvent> batch)
    {
        try
        {
            var provider = client.GetStreamProvider(RegistryStreams.Provider);
            await provider.GetStream<RegistryEvent>(RegistryStreams.All).OnNextBatchAsync(batch);
            await provider.GetStream<RegistryEvent>(RegistryStreams.Collections).OnNextBatchAsync(batch);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogPublishFailed(logger, e, batch.Count);
        }
    }

    /// <summary>A stable 32-hex id: the same run and subject give the same id.</summary>
    internal static string IdOf(string run, string subject)
        => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(run + "/" + subject)).AsSpan(0, 16));

    private static RegistryEvent Event(string id, string action, EventTarget target, CollectionFigures figures)
        => new(id, DateTimeOffset.UtcNow, action, target, EventRequest.None, null, EventSourceReplica.None, 0) { Collection = figures };

    [LoggerMessage(1, LogLevel.Warning, "Could not publish {Count} garbage collection event(s); the deletions are in the log")]
    private static partial void LogPublishFailed(ILogger logger, Exception exception, int count);

    public sealed class Run(CollectionEvents owner, GarbageCollectionRun run)
    {
        private readonly List<RegistryEvent> _pending = [];
        private readonly CollectionFigures _figures = new(run.Id, run.DryRun, 0, 0, 0, 0, 0, 0, 0, null);
        private long _published;

        /// <summary>Deleted blobs whose event was not published (beyond the bound).</summary>
        public long Omitted { get; private set; }

        public async Task BlobCollectedAsync(string digest, long size)
        {
            if (_published >= BlobEventsLimit)
            {
                Omitted++;
                return;
            }

            _published++;
            _pending.Add(Event(IdOf(run.Id, digest), RegistryEvent.BlobCollected, new EventTarget("application/octet-stream", digest, size, "", null, null, null), _figures));
            if (_pending.Count >= Batch)
            {
                await FlushAsync();
            }
        }

        public async Task FinishedAsync(GarbageCollectionReport report)
        {
            await FlushAsync();
            var figures = new CollectionFigures(
                run.Id, run.DryRun, report.BlobsExamined, report.BlobsReclaimed, report.BytesReclaimed,
                report.StraysReclaimed, report.StrayBytesReclaimed, report.RepositoriesRemoved, Omitted, report.Error, report.ManifestsRemoved, report.LinksRemoved);
            await owner.PublishAsync([Event(IdOf(run.Id, "finished"), RegistryEvent.CollectionFinished, new EventTarget(null, null, 0, "", null, null, null), figures)]);
        }

        private async Task FlushAsync()
        {
            if (_pending.Count > 0)
            {
                await owner.PublishAsync([.. _pending]);
                _pending.Clear();
            }
        }
    }
}
