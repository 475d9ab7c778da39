using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Runtime;

namespace Registry.Grains;

/// <remarks>
/// A reminder tick or a silo's start only starts a job and returns: a sweep over many uploads
/// may outlast a grain call's timeout. Reentrant, so the jobs run beside further calls; a job
/// still running when its reminder fires again is not started twice, and the activation stays
/// while one runs. Deactivation cancels what is running; the next tick starts it again.
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
    public const string GarbageCollect = "garbage-collect";

    /// <summary>At start only: a collection a crash interrupted runs again.</summary>
    public const string GarbageResume = "garbage-resume";

    /// <summary>At start only (no reminder): repositories whose outbox may hold events publish them.</summary>
    public const string OutboxWake = "outbox-wake";

    /// <summary>Keeps the activation while a job runs, however long (renewed at each start).</summary>
    private static readonly TimeSpan JobLease = TimeSpan.FromHours(2);

    private readonly Dictionary<string, Task> _jobs = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>A silo started and the outbox wake has not succeeded since: the minute's tick tries again.</summary>
    private bool _outboxWakePending;

    public async Task Start()
    {
        await EnsureReminderAsync(UploadSweep, options.Value.UploadSweepInterval);
        await EnsureReminderAsync(WebhookWake, options.Value.WebhookWakeInterval);
        if (options.Value.GarbageCollectionInterval > TimeSpan.Zero)
        {
            await EnsureReminderAsync(GarbageCollect, options.Value.GarbageCollectionInterval);
        }
        else if (await this.GetReminder(GarbageCollect) is { } disabled)
        {
            await this.UnregisterReminder(disabled);
        }

        StartJob(GarbageResume);

        // After a restart, stored webhook events go out now rather than at the first tick, and
        // events a crash kept from their consumers go out without waiting for a request.
        StartJob(WebhookWake);
        _outboxWakePending = true;
        StartJob(OutboxWake);
    }

    public Task ReceiveReminder(string reminderName, TickStatus status)
    {
        StartJob(reminderName);
        if (reminderName == WebhookWake && _outboxWakePending)
        {
            StartJob(OutboxWake);
        }

        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await Task.WhenAll(_jobs.Values).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
        _stopping.Dispose();
    }

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

    private void StartJob(string job)
    {
        if (_jobs.TryGetValue(job, out var running) && !running.IsCompleted)
        {
            return;
        }

        DelayDeactivation(JobLease);
        _jobs[job] = RunAsync(job, _stopping.Token);
    }

    private async Task RunAsync(string job, CancellationToken cancellationToken)
    {
        try
        {
            switch (job)
            {
                case UploadSweep:
                    var expired = await sweeper.SweepAsync(time.GetUtcNow(), cancellationToken);
                    LogSwept(logger, expired);
                    break;
                case WebhookWake:
                    var queues = await GrainFactory.GetGrain<IWebhookDirectoryGrain>(0).Wake().WaitAsync(cancellationToken);
                    LogWoke(logger, queues);
                    break;
                case GarbageCollect:
                    await GrainFactory.GetGrain<IGarbageCollectionGrain>(0).Start(dryRun: false).WaitAsync(cancellationToken);
                    break;
                case GarbageResume:
                    await GrainFactory.GetGrain<IGarbageCollectionGrain>(0).Resume().WaitAsync(cancellationToken);
                    break;
                case OutboxWake:
                    var repositories = await GrainFactory.GetGrain<IOutboxDirectoryGrain>(0).Wake().WaitAsync(cancellationToken);
                    _outboxWakePending = false;
                    LogWokeOutboxes(logger, repositories);
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
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Deactivating: the next tick, wherever the grain then lives, runs the job again.
        }
        catch (Exception e)
        {
            // The next tick tries again.
            LogJobFailed(logger, e, job);
        }
    }

    [LoggerMessage(1, LogLevel.Debug, "Upload sweep expired {Count} sessions")]
    private static partial void LogSwept(ILogger logger, int count);

    [LoggerMessage(2, LogLevel.Debug, "Woke {Count} webhook queues that may hold events")]
    private static partial void LogWoke(ILogger logger, int count);

    [LoggerMessage(4, LogLevel.Information, "Woke {Count} repositories whose outbox may hold events not yet delivered")]
    private static partial void LogWokeOutboxes(ILogger logger, int count);

    [LoggerMessage(3, LogLevel.Warning, "The periodic job {Job} failed; it runs again at its next tick")]
    private static partial void LogJobFailed(ILogger logger, Exception exception, string job);
}
