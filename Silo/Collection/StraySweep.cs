using Microsoft.Extensions.Logging;
using Registry.Storage;

namespace Registry.Silo;

/// <summary>
/// A collection's second sweep: the crash leftovers the driver finds (<see cref="IBlobStore.ListStraysAsync"/>)
/// older than the grace period, each deleted on condition that it is unchanged since it was listed.
/// </summary>
public static partial class StraySweep
{
    public static async Task<(long Count, long Bytes)> RunAsync(IBlobStore store, DateTimeOffset cutoff, bool dryRun, string runId, ILogger logger, CollectionPacer pacer, CancellationToken cancellationToken)
    {
        long count = 0, bytes = 0;
        await foreach (var stray in store.ListStraysAsync(cutoff, cancellationToken))
        {
            cancellationToken.ThrowIfCancellationRequested();
            await pacer.StepAsync(cancellationToken);
            if (!dryRun)
            {
                if (!await store.DeleteStrayIfUnchangedAsync(stray.Name, stray.Version, cancellationToken))
                {
                    continue;
                }

                LogDeleted(logger, runId, stray.Name, stray.Size);
            }

            count++;
            bytes += stray.Size;
        }

        return (count, bytes);
    }

    [LoggerMessage(1, LogLevel.Information, "Garbage collection {RunId} deleted stray {Name} ({Size} bytes), left by a crash")]
    private static partial void LogDeleted(ILogger logger, string runId, string name, long size);
}
