using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Registry.Grains;
using Registry.Storage;

namespace Registry.Silo;

/// <summary>
/// Deletes upload sessions (and their staged bytes) not finished within <c>Registry:Uploads:Expiry</c>.
/// The maintenance grain runs it once per cluster every <c>Registry:Uploads:SweepInterval</c>.
/// </summary>
public sealed partial class UploadSweeper(
    UploadStaging staging,
    IGrainFactory grains,
    UploadMetrics metrics,
    IOptions<RegistryOptions> options,
    ILogger<UploadSweeper> logger) : IUploadSweeper
{
    public async Task<int> SweepAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var cutoff = now - options.Value.Uploads.Expiry;
        var expired = 0;
        await foreach (var upload in staging.ListStartedBeforeAsync(cutoff, cancellationToken))
        {
            try
            {
                // The session ends first: a crash before the bytes go leaves an area the next sweep removes.
                if (await grains.GetGrain<IUploadSessionGrain>(upload.UploadId).ExpireIfStartedBefore(cutoff))
                {
                    await staging.DiscardAsync(upload.UploadId);
                    metrics.Ended();
                    LogExpired(logger, upload.UploadId, upload.StartedAt);
                    expired++;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // One broken session must not keep the others from expiring.
                LogExpiryFailed(logger, e, upload.UploadId);
            }
        }

        return expired;
    }

    [LoggerMessage(1, LogLevel.Information, "Expired upload {UploadId} started at {StartedAt}")]
    private static partial void LogExpired(ILogger logger, string uploadId, DateTimeOffset startedAt);

    [LoggerMessage(2, LogLevel.Warning, "Could not expire upload {UploadId}")]
    private static partial void LogExpiryFailed(ILogger logger, Exception exception, string uploadId);
}
