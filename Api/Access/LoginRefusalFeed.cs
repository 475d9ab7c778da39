using Registry.Grains;

namespace Registry.Api.Access;

/// <summary>
/// Polls the cluster's login refusals (<see cref="ILoginRefusalsGrain"/>) and hands them to
/// <see cref="LoginThrottle"/>, so a replica refuses an account or address the cluster refuses
/// within <see cref="Interval"/>, though it saw none of the failures. One small read-only call per
/// process and interval, as the policy change log is read, and nothing to resubscribe when a silo dies.
/// </summary>
public sealed partial class LoginRefusalFeed(IGrainFactory grains, LoginThrottle throttle, ILogger<LoginRefusalFeed> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(500);

    private Guid _epoch;
    private long _sequence;

    /// <summary>One poll: every refusal announced since the last one (all in force after a gap).</summary>
    public async Task PollAsync()
    {
        var refusals = await grains.GetGrain<ILoginRefusalsGrain>(0).Since(_epoch, _sequence);
        foreach (var refusal in refusals.Refusals)
        {
            throttle.Refuse(refusal.Partition, refusal.Left);
        }

        _epoch = refusals.Epoch;
        _sequence = refusals.Sequence;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval);
        try
        {
            do
            {
                try
                {
                    await PollAsync();
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    LogPollFailed(logger, e.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(1, LogLevel.Warning, "Polling the cluster's login refusals failed: {Reason}; this replica learns of refusals from its own failed logins until it works again")]
    private static partial void LogPollFailed(ILogger logger, string reason);
}
