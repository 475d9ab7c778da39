using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Registry.Grains;

namespace Registry.Silo;

/// <summary>
/// What a registry silo does as it starts and stops: prepares the storage backend before grains
/// run, asks the maintenance grain to make sure the cluster's periodic jobs are scheduled and to
/// run the catch-up work of a restart, and cancels webhook POSTs in flight when it stops.
/// </summary>
/// <remarks>
/// The maintenance grain is asked once the host has started (every hosted service, the in-process
/// subscribers' dispatcher among them, is running), so the events that repositories publish again
/// at start find every consumer subscribed.
/// </remarks>
internal sealed partial class RegistrySiloLifecycle(
    StorageInitializer storage,
    IGrainFactory grains,
    WebhookSender webhooks,
    ILogger<RegistrySiloLifecycle> logger,
    IHostApplicationLifetime? lifetime = null) : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();

    public void Participate(ISiloLifecycle lifecycle)
    {
        lifecycle.Subscribe(nameof(RegistrySiloLifecycle) + ".Storage", ServiceLifecycleStage.RuntimeInitialize, storage.Run, _ => Task.CompletedTask);
        lifecycle.Subscribe(nameof(RegistrySiloLifecycle), ServiceLifecycleStage.Active, OnActiveAsync, StopAsync);
    }

    private Task OnActiveAsync(CancellationToken cancellationToken)
    {
        if (lifetime is null)
        {
            return StartMaintenanceAsync();
        }

        // Runs at once if the host has started already.
        lifetime.ApplicationStarted.Register(() => _ = StartMaintenanceAsync());
        return Task.CompletedTask;
    }

    private async Task StartMaintenanceAsync()
    {
        try
        {
            await grains.GetGrain<IMaintenanceGrain>(0).Start().WaitAsync(_stopping.Token);
        }
        catch (Exception e) when (!_stopping.IsCancellationRequested)
        {
            // Not fatal: the jobs' reminders are durable in cluster mode, and the next silo start asks again.
            LogMaintenanceStartFailed(logger, e);
        }
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        webhooks.CancelAll();
    }

    public void Dispose() => _stopping.Dispose();

    [LoggerMessage(1, LogLevel.Warning, "Could not schedule the cluster's periodic jobs at start")]
    private static partial void LogMaintenanceStartFailed(ILogger logger, Exception exception);
}

/// <summary>Prepares the storage backend (creates the Azure container) before the silo runs grains.</summary>
internal sealed record StorageInitializer(Func<CancellationToken, Task> Run);
