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
public sealed class LoginFailuresGrain(TimeProvider time) : Grain, ILoginFailuresGrain
{
    private DateTimeOffset _windowEnd;
    private int _failures;
    private bool _refused;
    private IGrainTimer? _expiry;

    public Task<TimeSpan?> Failed(int limit, TimeSpan window)
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
        _refused |= _failures >= limit;
        return RetryAfter();
    }

    public Task<TimeSpan?> RetryAfter()
    {
        var left = _windowEnd - time.GetUtcNow();
        return Task.FromResult<TimeSpan?>(_refused && left > TimeSpan.Zero ? left : null);
    }

    /// <summary>The window is over (a new window replaces this timer): nothing is left to remember.</summary>
    private Task Expire(CancellationToken cancellation)
    {
        DeactivateOnIdle();
        return Task.CompletedTask;
    }
}
