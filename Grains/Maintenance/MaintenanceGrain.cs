using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Runtime;

namespace Registry.Grains;

/// <remarks>
/// Reentrant so that a long sweep does not hold back the webhook wake-up or a silo's start call;
/// a job still running when its reminder fires again is not started twice.
/// </remarks>
[Reentrant]
public sealed partial class MaintenanceGrain(
    IUploadSweeper sweeper,
    IOptions<MaintenanceOptions> options,
    TimeProvider time,
    ILogger<MaintenanceGrain> logger) : Grain, IMaintenanceGrain, IRemindable
{
    public const string UploadSweep = "upload-sweep";
    public const string WebhookWake = "webhook-wake";

    private readonly HashSet<string> _running = new(StringComparer.Ordinal);

    public async Task Start()
    {
        await EnsureReminderAsync(UploadSweep, options.Value.UploadSweepInterval);
        await EnsureReminderAsync(WebhookWake, options.Value.WebhookWakeInterval);

        // After a restart, stored webhook events go out now rather than at the first tick.
        await RunAsync(WebhookWake);
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => RunAsync(reminderName);

    private async Task EnsureReminderAsync(string name, TimeSpan period)
    {
        // Every silo calls Start: the stored reminder is rewritten only when it is missing or its period changed.
        if (await this.GetReminder(name) is { } existing && await ReminderPeriodAsync(existing) == period)
        {
            return;
        }

        await this.RegisterOrUpdateReminder(name, period, period);
    }

    private async Task<TimeSpan?> ReminderPeriodAsync(IGrainReminder reminder)
    {
        // A reminder handle does not carry its period; the reminder table's row does.
        var entry = await ServiceProvider.GetRequiredService<IReminderTable>().ReadRow(this.GetGrainId(), reminder.ReminderName);
        return entry?.Period;
    }

    private async Task RunAsync(string job)
    {
        if (!_running.Add(job))
        {
            return;
        }

        try
        {
            switch (job)
            {
                case UploadSweep:
                    var expired = await sweeper.SweepAsync(time.GetUtcNow(), CancellationToken.None);
                    LogSwept(logger, expired);
                    break;
                case WebhookWake:
                    var queues = await GrainFactory.GetGrain<IWebhookDirectoryGrain>(0).Wake();
                    LogWoke(logger, queues);
                    break;
                default:
                    // A reminder of a job this version no longer has.
                    if (await this.GetReminder(job) is { } stale)
                    {
                        await this.UnregisterReminder(stale);
                    }

                    break;
            }
        }
        catch (Exception e)
        {
            // The next tick tries again.
            LogJobFailed(logger, e, job);
        }
        finally
        {
            _running.Remove(job);
        }
    }

    [LoggerMessage(1, LogLevel.Debug, "Upload sweep expired {Count} sessions")]
    private static partial void LogSwept(ILogger logger, int count);

    [LoggerMessage(2, LogLevel.Debug, "Woke {Count} webhook queues that may hold events")]
    private static partial void LogWoke(ILogger logger, int count);

    [LoggerMessage(3, LogLevel.Warning, "The periodic job {Job} failed; it runs again at its next tick")]
    private static partial void LogJobFailed(ILogger logger, Exception exception, string job);
}
