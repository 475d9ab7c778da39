using Microsoft.Extensions.Options;
using Registry.Api.Observability;
using Registry.Grains;
using Registry.Storage;

namespace Registry.Api.Services;

/// <summary>Deletes upload sessions (and their staged bytes) that were not finished in time.</summary>
public sealed class UploadJanitor(IBlobStore store, IGrainFactory grains, UploadHashes hashes, RegistryMetrics metrics, IOptions<RegistryOptions> options, TimeProvider time, ILogger<UploadJanitor> logger) : BackgroundService
{
    /// <summary>One sweep as if the time were <paramref name="now"/>; returns how many sessions expired.</summary>
    public async Task<int> SweepAsync(DateTimeOffset now, CancellationToken ct)
    {
        var cutoff = now - options.Value.Uploads.Expiry;
        hashes.ForgetOlderThan(cutoff);
        var expired = 0;
        await foreach (var upload in store.ListUploadsAsync(ct))
        {
            try
            {
                if (upload.StartedAt < cutoff && await grains.GetGrain<IUploadSessionGrain>(upload.UploadId).ExpireIfStartedBefore(cutoff))
                {
                    hashes.Forget(upload.UploadId);
                    metrics.UploadEnded();
                    Log.UploadExpired(logger, upload.UploadId, upload.StartedAt);
                    expired++;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // One broken session must not keep the others from expiring.
                Log.ExpiryFailed(logger, e, upload.UploadId);
            }
        }

        return expired;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Uploads.SweepInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await SweepAsync(time.GetUtcNow(), stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Log.Unhandled(logger, e, "SWEEP", "uploads");
            }
        }
    }
}
