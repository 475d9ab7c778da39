using Microsoft.Extensions.Options;
using Registry.Grains;

namespace Registry.Api.Lifecycle;

/// <summary>Retention's settings: <c>Registry:Retention</c>.</summary>
public sealed class RetentionOptions
{
    /// <summary>How often each HTTP host hands the pulls it saw to the repositories (one call per repository).</summary>
    public TimeSpan PullFlushInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Distinct (repository, manifest) pulls held between flushes; reaching it flushes early, twice it drops new ones until a flush.</summary>
    public int MaxPendingPulls { get; set; } = 100_000;

    /// <summary>How often each HTTP host asks the schedule owner for scheduled policies that are due (docs/retention.md).</summary>
    public TimeSpan ScheduleCheckInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The shortest <c>spec.schedule.interval</c> a policy may ask for.</summary>
    public TimeSpan MinimumScheduleInterval { get; set; } = RetentionDocuments.DefaultMinimumScheduleInterval;

    public IEnumerable<string> Validate()
    {
        if (ScheduleCheckInterval < TimeSpan.FromMilliseconds(10) || ScheduleCheckInterval > TimeSpan.FromHours(1))
        {
            yield return $"Registry:Retention:ScheduleCheckInterval {ScheduleCheckInterval} must be between 00:00:00.010 and 01:00:00 (the default is 00:01:00).";
        }

        if (MinimumScheduleInterval < TimeSpan.FromSeconds(1) || MinimumScheduleInterval > RetentionDocuments.MaxDuration)
        {
            yield return $"Registry:Retention:MinimumScheduleInterval {MinimumScheduleInterval} must be at least 00:00:01 (the default is 00:05:00).";
        }

        if (PullFlushInterval < TimeSpan.FromMilliseconds(10) || PullFlushInterval > TimeSpan.FromHours(1))
        {
            yield return $"Registry:Retention:PullFlushInterval {PullFlushInterval} must be between 00:00:00.010 and 01:00:00 (the default is 00:00:30).";
        }

        if (MaxPendingPulls < 1)
        {
            yield return $"Registry:Retention:MaxPendingPulls {MaxPendingPulls} must be at least 1 (the default is 100000).";
        }
    }
}

/// <summary>
/// Batches manifest pulls (GET by tag or digest) in memory and flushes them to the repository
/// grains every <see cref="RetentionOptions.PullFlushInterval"/>: one <see cref="IRepositoryGrain.RecordPulls"/>
/// call, and at most one state write, per repository and interval, however many pulls it served.
/// Flushed too when the host stops gracefully (before the silo stops: hosted services stop in
/// reverse order), so a restart loses at most the pulls of one interval, and only on a crash.
/// </summary>
public sealed partial class PullRecorder(IGrainFactory grains, IOptions<ApiOptions> options, TimeProvider time, ILogger<PullRecorder> logger) : BackgroundService
{
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly SemaphoreSlim _flushing = new(1, 1);
    private Dictionary<string, Dictionary<string, DateTimeOffset>> _pending = new(StringComparer.Ordinal);
    private int _count;
    private long _flushCalls;
    private long _dropped;

    private RetentionOptions Settings => options.Value.Retention;

    /// <summary>How many <see cref="IRepositoryGrain.RecordPulls"/> calls flushes made (for tests and diagnostics).</summary>
    public long FlushCalls => Interlocked.Read(ref _flushCalls);

    /// <summary>Pulls not recorded because too many were pending (flushes failing).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Notes a pull of <paramref name="digest"/> from <paramref name="repository"/>: memory only.</summary>
    public void Record(string repository, string digest)
    {
        var now = time.GetUtcNow();
        bool full;
        lock (_gate)
        {
            if (!_pending.TryGetValue(repository, out var pulls))
            {
                if (_count >= 2 * Settings.MaxPendingPulls)
                {
                    Interlocked.Increment(ref _dropped);
                    return;
                }

                _pending[repository] = pulls = new(StringComparer.Ordinal);
            }

            if (pulls.TryAdd(digest, now))
            {
                _count++;
            }
            else
            {
                pulls[digest] = now;
            }

            full = _count >= Settings.MaxPendingPulls;
        }

        if (full && _wake.CurrentCount == 0)
        {
            try
            {
                _wake.Release();
            }
            catch (SemaphoreFullException)
            {
                // Woken already.
            }
        }
    }

    /// <summary>Hands every pending pull to its repository; pulls a repository could not take stay for the next flush.</summary>
    public async Task FlushAsync()
    {
        await _flushing.WaitAsync();
        try
        {
            Dictionary<string, Dictionary<string, DateTimeOffset>> batch;
            lock (_gate)
            {
                if (_count == 0)
                {
                    return;
                }

                batch = _pending;
                _pending = new(StringComparer.Ordinal);
                _count = 0;
            }

            await Parallel.ForEachAsync(batch, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (entry, _) =>
            {
                try
                {
                    Interlocked.Increment(ref _flushCalls);
                    await grains.GetGrain<IRepositoryGrain>(entry.Key).RecordPulls(entry.Value);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogFlushFailed(logger, e, entry.Key, entry.Value.Count);
                    Requeue(entry.Key, entry.Value);
                }
            });
        }
        finally
        {
            _flushing.Release();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(Settings.PullFlushInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            await FlushAsync();
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await FlushAsync();
    }

    private void Requeue(string repository, Dictionary<string, DateTimeOffset> pulls)
    {
        lock (_gate)
        {
            if (!_pending.TryGetValue(repository, out var pending))
            {
                _pending[repository] = pending = new(StringComparer.Ordinal);
            }

            foreach (var (digest, at) in pulls)
            {
                if (!pending.TryGetValue(digest, out var newer))
                {
                    pending[digest] = at;
                    _count++;
                }
                else if (newer < at)
                {
                    pending[digest] = at;
                }
            }
        }
    }

    [LoggerMessage(160, LogLevel.Warning, "Could not record {Count} manifest pulls of {Repository}; they are kept for the next flush")]
    private static partial void LogFlushFailed(ILogger logger, Exception exception, string repository, int count);
}
