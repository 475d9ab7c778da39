using System.Diagnostics;
using Microsoft.Extensions.Options;
using Orleans.Serialization.Cloning;
using Orleans.Serialization.Serializers;
using Registry.Grains;
using Registry.Silo;

namespace Registry.Api;

/// <summary>
/// Prepares the real silo, once it runs and before the server listens, for the first push: its
/// codecs and grain references, and one activation of each grain kind a push goes through, under
/// keys no repository can have, with calls that only read. A silo builds these on first use, and
/// the throwaway registry of <see cref="StartupWarmUp"/> warmed only the compiled code they share,
/// so a fresh registry's first push still paid for them (docs/benchmarks.md).
/// </summary>
/// <remarks>
/// Embedded mode only: in a cluster the activations land on any silo, and a fresh replica joins
/// one whose grains are mostly active already. The keys hold uppercase letters, which repository
/// names and namespaces never do, so nothing is found, written, listed or reported for them; the
/// activations go idle and are collected.
/// </remarks>
public sealed partial class SiloWarmUp(
    IOptions<ApiOptions> options,
    IOptions<RegistryOptions> registry,
    IGrainFactory grains,
    ICodecProvider codecs,
    IDeepCopierProvider copiers,
    ILogger<SiloWarmUp> logger) : IHostedService
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
            PrepareSilo();
            await Task.WhenAll(
                grains.GetGrain<IRepositoryGrain>(Repository).GetBlobSize(Digest).AsTask(),
                grains.GetGrain<IUploadSessionGrain>("Warm-Up-Upload").GetStatus(Repository).AsTask(),
                grains.GetGrain<ICatalogIndexGrain>(0).Shards().AsTask(),
                grains.GetGrain<ICatalogShardGrain>(0).List(null, 1).AsTask(),
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

    /// <summary>
    /// Builds this silo's codec and copier of every state and message type of the grains, and a
    /// reference of every grain interface. Each is built by reflection, and the runtime compiles a
    /// constructor's invocation stub the second time it is called: the throwaway registry's silo
    /// was the first, this one is the second.
    /// </summary>
    private void PrepareSilo()
    {
        // The grains' assemblies by name: this host uses their contracts, never their implementation.
        var assemblies = AppDomain.CurrentDomain.GetAssemblies().Where(a => a.GetName().Name?.StartsWith("Registry.Grains", StringComparison.Ordinal) == true);
        foreach (var type in assemblies.SelectMany(a => a.GetTypes()))
        {
            if (type.IsGenericTypeDefinition)
            {
                continue;
            }

            if (type.IsDefined(typeof(GenerateSerializerAttribute), inherit: false))
            {
                codecs.GetCodec(type);
                copiers.GetDeepCopier(type);
            }
            else if (type.IsInterface && typeof(IGrain).IsAssignableFrom(type))
            {
                // A reference's proxy is built per silo too, on the first reference of its kind.
                _ = grains.GetGrain(type, IdSpan.Create(Namespace));
            }
        }
    }

    [LoggerMessage(1, LogLevel.Debug, "Activated the grains a push uses in {Milliseconds} ms")]
    private static partial void LogWarmedUp(ILogger logger, long milliseconds);

    [LoggerMessage(2, LogLevel.Warning, "Activating the grains a push uses failed; the first push may be slower")]
    private static partial void LogWarmUpFailed(ILogger logger, Exception exception);
}
