using Microsoft.Extensions.Logging;
using Registry.Grains;

namespace Registry.Silo;

/// <summary>
/// What a registry silo does as it starts and stops: prepares the storage backend before grains
/// run, asks the maintenance grain to make sure the cluster's periodic jobs are scheduled, and
/// cancels webhook POSTs in flight when it stops.
/// </summary>
internal sealed partial class RegistrySiloLifecycle(
    StorageInitializer storage,
    IGrainFactory grains,
    WebhookSender webhooks,
    ILogger<RegistrySiloLifecycle> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle)
    {
        lifecycle.Subscribe(nameof(RegistrySiloLifecycle) + ".Storage", ServiceLifecycleStage.RuntimeInitialize, storage.Run, _ => Task.CompletedTask);
        lifecycle.Subscribe(nameof(RegistrySiloLifecycle), ServiceLifecycleStage.Active, StartMaintenanceAsync, StopAsync);
    }

    private async Task StartMaintenanceAsync(CancellationToken cancellationToken)
    {
        try
        {
            await grains.GetGrain<IMaintenanceGrain>(0).Start().WaitAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Not fatal: the jobs' reminders are durable in cluster mode, and the next silo start asks again.
            LogMaintenanceStartFailed(logger, e);
        }
    }

    private Task StopAsync(CancellationToken cancellationToken)
    {
        webhooks.CancelAll();
        return Task.CompletedTask;
    }

    [LoggerMessage(1, LogLevel.Warning, "Could not schedule the cluster's periodic jobs at start")]
    private static partial void LogMaintenanceStartFailed(ILogger logger, Exception exception);
}

/// <summary>Prepares the storage backend (creates the Azure container) before the silo runs grains.</summary>
internal sealed record StorageInitializer(Func<CancellationToken, Task> Run);
