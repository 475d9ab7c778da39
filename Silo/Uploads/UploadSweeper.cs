using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Registry.Grains;
using Registry.Storage;

namespace Registry.Silo;

/// <summary>
/// Deletes upload sessions (and their staged bytes) not finished within <c>Registry:Uploads:Expiry</c>.
/// The maintenance grain runs it once per cluster every <c>Registry:Uploads:SweepInterval</c>, and
/// every garbage collection runs it too (<see cref="ReclaimAsync"/>), so a collection leaves no
/// expired staging behind whatever the sweep's interval.
/// </summary>
public sealed partial class UploadSweeper(
    UploadStaging staging,
    IGrainFactory grains,
    UploadMetrics metrics,
    IOptions<RegistryOptions> options,
    ILogger<UploadSweeper> logger) : IUploadSweeper
{
    public async Task<int> SweepAsync(DateTimeOffset now, CancellationToken cancellationToken)
        => (int)(await ReclaimAsync(now, dryRun: false, cancellationToken)).Count;

    /// <summary>
    /// Expires the sessions started before <c>now − Registry:Uploads:Expiry</c> and removes their
    /// staging; a dry run counts them and changes nothing. Answers how many and their staged bytes.
    /// </summary>
    public async Task<(long Count, long Bytes)> ReclaimAsync(DateTimeOffset now, bool dryRun, CancellationToken cancellationToken)
    {
        var cutoff = now - options.Value.Uploads.Expiry;
        long count = 0, bytes = 0;
        var reclaimed = staging.ReclaimStartedBeforeAsync(
            cutoff,
            dryRun,
            upload => grains.GetGrain<IUploadSessionGrain>(upload.UploadId).ExpireIfStartedBefore(cutoff),
            (upload, e) => LogExpiryFailed(logger, e, upload.UploadId),
            cancellationToken);
        await foreach (var upload in reclaimed)
        {
            if (!dryRun)
            {
                metrics.Ended();
                LogExpired(logger, upload.UploadId, upload.StartedAt, upload.Size);
            }

            count++;
            bytes += upload.Size;
        }

        return (count, bytes);
    }

    [LoggerMessage(1, LogLevel.Information, "Expired upload {UploadId} started at {StartedAt} ({Size} staged bytes removed)")]
    private static partial void LogExpired(ILogger logger, string uploadId, DateTimeOffset startedAt, long size);

    [LoggerMessage(2, LogLevel.Warning, "Could not expire upload {UploadId}")]
    private static partial void LogExpiryFailed(ILogger logger, Exception exception, string uploadId);
}
