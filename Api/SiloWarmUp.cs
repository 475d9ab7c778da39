using System.Diagnostics;
using Microsoft.Extensions.Options;
using Registry.Grains;
using Registry.Silo;

namespace Registry.Api;

/// <summary>
/// Activates, once the silo runs and before the server listens, one grain of each kind a push
/// goes through, under keys no repository can have, with calls that only read. Each kind's first
/// activation in a silo builds what the silo keeps for it (activators, storage bindings); in a
/// fresh registry the first push paid for that, about 20 ms (docs/benchmarks.md).
/// </summary>
/// <remarks>
/// Embedded mode only: in a cluster the activations land on any silo, and a fresh replica joins
/// one whose grains are mostly active already. The keys hold uppercase letters, which repository
/// names and namespaces never do, so nothing is found, written, listed or reported for them; the
/// activations go idle and are collected.
/// </remarks>
public sealed partial class SiloWarmUp(IOptions<ApiOptions> options, IOptions<RegistryOptions> registry, IGrainFactory grains, ILogger<SiloWarmUp> logger) : IHostedService
{
    private const string Repository = "Warm-Up/Repository";
    private const string Namespace = "Warm-Up";
    private const string Digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.Value.WarmUp || registry.Value.Mode != RegistryMode.Embedded)
        {
            return;
        }

        var started = Stopwatch.GetTimestamp();
        try
        {
            await Task.WhenAll(
                grains.GetGrain<IRepositoryGrain>(Repository).GetBlobSize(Digest).AsTask(),
                grains.GetGrain<IUploadSessionGrain>("Warm-Up-Upload").GetStatus(Repository).AsTask(),
                grains.GetGrain<ICatalogIndexGrain>(0).Shards().AsTask(),
                grains.GetGrain<IOutboxDirectoryGrain>(0).List().AsTask(),
                grains.GetGrain<INamespaceEventLogGrain>(Namespace).GetLastSequence()).WaitAsync(cancellationToken);
            LogWarmedUp(logger, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // It only saves time: the registry starts anyway.
            LogWarmUpFailed(logger, e);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(1, LogLevel.Debug, "Activated the grains a push uses in {Milliseconds} ms")]
    private static partial void LogWarmedUp(ILogger logger, long milliseconds);

    [LoggerMessage(2, LogLevel.Warning, "Activating the grains a push uses failed; the first push may be slower")]
    private static partial void LogWarmUpFailed(ILogger logger, Exception exception);
}
