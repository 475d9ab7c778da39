using Microsoft.Extensions.Options;
using Registry.Api.Access;
using Registry.Grains;

namespace Registry.Api.Lifecycle;

/// <summary>
/// Applies scheduled retention policies (<c>spec.schedule.interval</c>, docs/retention.md). Every
/// <c>Registry:Retention:ScheduleCheckInterval</c> each HTTP host asks the schedule's owner grain
/// (<see cref="IRetentionScheduleGrain"/>, one per cluster) for the due policies nobody holds; the
/// grain hands each to one host only, so a policy applies once per interval cluster-wide. The host
/// runs it as <c>POST …/run?dryRun=false</c> would, records the outcome in the policy's status and
/// tells the owner, which makes it due one interval after the run began. A host that dies mid-run
/// frees its runs when their lease ends; the next claim runs them again (a run decides afresh).
/// Runs go on HTTP hosts, where the runner's immutable tag rules are cached; a headless silo holds
/// the owner grain at most.
/// </summary>
public sealed partial class RetentionScheduler(
    IGrainFactory grains,
    RetentionRunner runner,
    IOptions<ApiOptions> options,
    TimeProvider time,
    ILogger<RetentionScheduler> logger) : BackgroundService
{
    /// <summary>How long a claimed run is held by its host before another may take it.</summary>
    public static readonly TimeSpan Lease = TimeSpan.FromHours(6);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Retention.ScheduleCheckInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await RunDueAsync(stoppingToken);
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    // The silo may not be up yet, or the owner is moving: the next tick asks again.
                    LogCheckFailed(logger, e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: a claimed run not finished is freed when its lease ends.
        }
    }

    /// <summary>Claims and runs the due policies, one at a time; answers how many ran.</summary>
    public async Task<int> RunDueAsync(CancellationToken cancellationToken)
    {
        var schedule = grains.GetGrain<IRetentionScheduleGrain>(0);
        var ran = 0;
        foreach (var due in await schedule.ClaimDue(Lease))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var ns = due.Scope == ScopePolicy.RegistryScope ? null : due.Scope;
            var policies = grains.GetGrain<IRetentionPolicyGrain>(due.Scope);
            var policy = await policies.Get(due.Name);
            if (policy?.Rules.ScheduleInterval != due.Interval)
            {
                // Deleted, unscheduled or rescheduled after the owner learnt of it (or a crash
                // between the two writes): the owner follows what is stored.
                await schedule.Set(due.Scope, due.Name, policy?.Rules.ScheduleInterval);
                continue;
            }

            var started = time.GetUtcNow();
            RetentionRunSummary summary;
            try
            {
                var report = await runner.RunAsync(ns, policy, dryRun: false, started, cancellationToken);
                summary = new RetentionRunSummary(
                    report.StartedAt,
                    report.FinishedAt,
                    report.RepositoriesExamined,
                    report.Changed.Count(c => !c.Result.IsEmpty),
                    report.Changed.Sum(c => c.Result.Tags.Count),
                    report.Changed.Sum(c => c.Result.History.Count),
                    report.Changed.Sum(c => c.Result.Manifests.Count),
                    null);
                LogRan(logger, due.Name, ns ?? "(registry)", summary.TagsDeleted, summary.HistoryEntriesDropped, summary.ManifestsDeleted);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                // Recorded and due again one interval later, as a success would be: a failing
                // policy does not run in a loop.
                summary = new RetentionRunSummary(started, time.GetUtcNow(), 0, 0, 0, 0, 0, e.Message);
                LogRunFailed(logger, e, due.Name, ns ?? "(registry)");
            }

            await policies.RecordScheduledRun(due.Name, summary);
            await schedule.Finished(due.Scope, due.Name, started);
            ran++;
        }

        return ran;
    }

    [LoggerMessage(171, LogLevel.Information, "Scheduled retention policy {Policy} of {Scope} ran: {Tags} tags, {History} history entries and {Manifests} manifests deleted")]
    private static partial void LogRan(ILogger logger, string policy, string scope, int tags, int history, int manifests);

    [LoggerMessage(172, LogLevel.Warning, "Scheduled retention policy {Policy} of {Scope} failed; it is due again one interval later")]
    private static partial void LogRunFailed(ILogger logger, Exception exception, string policy, string scope);

    [LoggerMessage(173, LogLevel.Debug, "Could not check for due retention policies; the next tick asks again")]
    private static partial void LogCheckFailed(ILogger logger, Exception exception);
}
