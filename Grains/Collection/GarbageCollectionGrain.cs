using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
using Orleans.Runtime;

namespace Registry.Grains;

/// <remarks>
/// Reentrant, like the maintenance grain: a call only starts the collection, which may outlast a
/// grain call's timeout, and status reads go on beside it. The run is stored before it starts, so a
/// collector killed at any point leaves a record that the next silo start resumes; the collection
/// itself is safe to repeat (it deletes only what is unreferenced and untouched since it listed it).
/// </remarks>
[Reentrant]
public sealed partial class GarbageCollectionGrain(
    [PersistentState("garbagecollection", GrainStorageNames.Provider)] IPersistentState<GarbageCollectionStatus> state,
    IGarbageCollector collector,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<GarbageCollectionGrain> logger) : Grain, IGarbageCollectionGrain
{
    /// <summary>Keeps the activation while a collection runs, however long (renewed at each start).</summary>
    private static readonly TimeSpan JobLease = TimeSpan.FromHours(6);

    private readonly CancellationTokenSource _stopping = new();
    private Task? _job;

    private bool IsRunning => _job is { IsCompleted: false };

    public async Task<GarbageCollectionStart> Start(bool dryRun)
    {
        if (IsRunning && state.State.Running is { } current)
        {
            return new GarbageCollectionStart(false, current);
        }

        var run = new GarbageCollectionRun(Guid.NewGuid().ToString("N"), dryRun, time.GetUtcNow(), 1);
        await BeginAsync(run);
        return new GarbageCollectionStart(true, run);
    }

    public async Task Resume()
    {
        if (!IsRunning && state.State.Running is { } interrupted)
        {
            LogResuming(logger, interrupted.Id, interrupted.Attempt);
            await BeginAsync(interrupted with { Attempt = interrupted.Attempt + 1 });
        }
    }

    public ValueTask<GarbageCollectionStatus> GetStatus() => ValueTask.FromResult(state.State);

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        if (_job is not null)
        {
            await _job.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
        }

        _stopping.Dispose();
    }

    private async Task BeginAsync(GarbageCollectionRun run)
    {
        // Stored before any deletion: a crash from here on is found and resumed by the next start.
        state.State.Running = run;
        await state.WriteStateAsync();
        DelayDeactivation(JobLease);
        _job = RunAsync(run);
    }

    private async Task RunAsync(GarbageCollectionRun run)
    {
        // The host stopping cancels the run before the silo leaves the cluster, so a grain call
        // failing because no silo is active is never mistaken for the collection's own failure.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, lifetime.ApplicationStopping);
        GarbageCollectionReport report;
        try
        {
            report = await collector.CollectAsync(run, time.GetUtcNow(), stopping.Token);
            LogCollected(logger, run.Id, run.DryRun, report.BlobsReclaimed, report.BytesReclaimed, report.BlobsExamined);
        }
        catch (Exception) when (stopping.IsCancellationRequested)
        {
            // Deactivating or shutting down: the run stays recorded, and the next start resumes it.
            return;
        }
        catch (Exception e)
        {
            LogFailed(logger, e, run.Id);
            report = new GarbageCollectionReport(run.Id, run.DryRun, run.StartedAt, time.GetUtcNow(), 0, 0, 0, 0, [], e.Message, run.Attempt, 0);
        }

        state.State.Running = null;
        state.State.Last = report;
        await state.WriteStateAsync();
    }

    [LoggerMessage(1, LogLevel.Information, "Garbage collection {RunId} (dry run: {DryRun}) reclaimed {Blobs} blobs, {Bytes} bytes, of {Examined} examined")]
    private static partial void LogCollected(ILogger logger, string runId, bool dryRun, long blobs, long bytes, long examined);

    [LoggerMessage(2, LogLevel.Warning, "Garbage collection {RunId} failed; nothing referenced was deleted, and the next run starts over")]
    private static partial void LogFailed(ILogger logger, Exception exception, string runId);

    [LoggerMessage(3, LogLevel.Information, "Resuming garbage collection {RunId} interrupted by a crash (attempt {Attempt})")]
    private static partial void LogResuming(ILogger logger, string runId, int attempt);
}
