using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace Registry.Grains;

/// <summary>
/// One partition's failed logins in the current window (<see cref="ILoginFailuresGrain"/>).
/// </summary>
/// <remarks>
/// In memory only: it is a rate limit, not a record. A lost activation (its silo died) forgets at
/// most one window of failures, which gives a guesser one more window's worth of attempts, and
/// writing every failure to storage would give a flood of bad logins a storage write each.
/// Memory follows the active attackers: the activation stays until its window ends and then
/// deactivates, so an idle partition costs nothing.
/// </remarks>
public sealed partial class LoginFailuresGrain(TimeProvider time, ILogger<LoginFailuresGrain> logger) : Grain, ILoginFailuresGrain
{
    private DateTimeOffset _windowEnd;
    private int _failures;
    private bool _refused;
    private IGrainTimer? _expiry;

    public async Task<TimeSpan?> Failed(int limit, TimeSpan window)
    {
        var now = time.GetUtcNow();
        if (now >= _windowEnd)
        {
            _windowEnd = now + window;
            _failures = 0;
            _refused = false;

            // Kept through the window even when idle longer than the collection age, then dropped.
            DelayDeactivation(window);
            _expiry?.Dispose();
            _expiry = this.RegisterGrainTimer(Expire, new GrainTimerCreationOptions(window, Timeout.InfiniteTimeSpan));
        }

        _failures++;
        if (!_refused && _failures >= limit)
        {
            _refused = true;
            await AnnounceAsync(_windowEnd - now);
        }

        return await RetryAfter();
    }

    public Task<TimeSpan?> RetryAfter()
    {
        var left = _windowEnd - time.GetUtcNow();
        return Task.FromResult<TimeSpan?>(_refused && left > TimeSpan.Zero ? left : null);
    }

    /// <summary>Tells every replica, also those that saw none of the failures; without it, each still learns from its own next report.</summary>
    private async Task AnnounceAsync(TimeSpan left)
    {
        try
        {
            await GrainFactory.GetGrain<ILoginRefusalsGrain>(0).Refused(this.GetPrimaryKeyString(), left);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            AnnounceFailed(logger, e, this.GetPrimaryKeyString());
        }
    }

    [LoggerMessage(1, LogLevel.Warning, "Could not announce that logins of {Partition} are refused; replicas learn it from their own failures")]
    private static partial void AnnounceFailed(ILogger logger, Exception exception, string partition);

    /// <summary>The window is over (a new window replaces this timer): nothing is left to remember.</summary>
    private Task Expire(CancellationToken cancellation)
    {
        DeactivateOnIdle();
        return Task.CompletedTask;
    }
}
