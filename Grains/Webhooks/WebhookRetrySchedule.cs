namespace Registry.Grains;

/// <summary>
/// When a webhook queue next attempts a delivery: the one scheduled attempt (a one-shot timer),
/// the backoff after failed attempts, bringing a backed-off attempt forward (<see cref="RetrySoon"/>)
/// and probing the endpoint of a queue that backs off (<see cref="ProbeAsync"/>).
/// </summary>
/// <remarks>
/// Not thread-safe: it runs on its grain's scheduler, like the grain. Its ports: timers of the
/// grain (<paramref name="startTimer"/>: due, period or infinite, callback; they interleave),
/// the delivery loop (<paramref name="deliver"/>), whether an attempt may be scheduled now
/// (<paramref name="canSchedule"/>: events wait and no delivery runs), the endpoint as configured
/// now (<paramref name="endpoint"/>) and the shared probe (<paramref name="probe"/>).
/// </remarks>
public sealed class WebhookRetrySchedule(
    Func<Func<CancellationToken, Task>, TimeSpan, TimeSpan, IDisposable> startTimer,
    Func<CancellationToken, Task> deliver,
    Func<bool> canSchedule,
    Func<WebhookEndpointOptions?> endpoint,
    Func<WebhookEndpointOptions, Task<bool>> probe,
    TimeProvider time)
{
    private static readonly TimeSpan EarlyRetrySpacing = TimeSpan.FromSeconds(5);

    /// <summary>The scheduled attempt (immediate or after a backoff), if one is.</summary>
    private IDisposable? _timer;

    /// <summary>When the scheduled attempt is due, and when the last one was made.</summary>
    private DateTimeOffset _dueAt;
    private DateTimeOffset _lastAttempt = DateTimeOffset.MinValue;

    /// <summary>While an attempt is backed off past the spacing: the periodic probe of the endpoint.</summary>
    private IDisposable? _probing;

    /// <summary>The endpoint was seen unreachable since it last accepted: a probe's answer brings the attempt forward.</summary>
    private bool _armed;

    /// <summary>Failed attempts in a row.</summary>
    public int Failures { get; private set; }

    /// <summary>Schedules an attempt unless one is scheduled already or none may be made now.</summary>
    public void Schedule(TimeSpan due)
    {
        if (_timer is not null || !canSchedule())
        {
            return;
        }

        _dueAt = time.GetUtcNow() + due;
        _timer = startTimer(OnDueAsync, due, Timeout.InfiniteTimeSpan);
    }

    /// <summary>A POST starts now.</summary>
    public void Attempting() => _lastAttempt = time.GetUtcNow();

    /// <summary>The endpoint accepted: no backoff, no probing.</summary>
    public void Succeeded()
    {
        Failures = 0;
        StopProbing();
    }

    /// <summary>
    /// An attempt failed (the delivery loop has ended): the next one waits the backoff, and while
    /// that is longer than the spacing the endpoint is probed every spacing instead.
    /// </summary>
    public TimeSpan Failed(WebhookEndpointOptions endpoint, bool unreachable)
    {
        Failures++;
        var delay = Backoff(endpoint);
        Schedule(delay);
        _armed |= unreachable;
        var spacing = Spacing(endpoint);
        if (_probing is null && delay > spacing)
        {
            _probing = startTimer(ProbeAsync, spacing, spacing);
        }

        return delay;
    }

    /// <summary>
    /// A new event, or the periodic wake-up, while the queue backs off: the next attempt comes early,
    /// but never sooner than the spacing (5 s) after the last one. So an endpoint that is back gets
    /// its events within seconds instead of after MaxBackoff, and a dead one is still asked at most
    /// once per spacing, however many events arrive.
    /// </summary>
    public void RetrySoon()
    {
        if (_timer is null || !canSchedule() || endpoint() is not { } current)
        {
            return;
        }

        var now = time.GetUtcNow();
        var at = _lastAttempt + Spacing(current) is var spaced && spaced > now ? spaced : now;
        if (at >= _dueAt)
        {
            return;
        }

        _timer.Dispose();
        _timer = null;
        Schedule(at - now);
    }

    /// <summary>The least time between attempts that <see cref="RetrySoon"/> brings forward, and the probes' period: 5 s, within the endpoint's backoff range.</summary>
    public static TimeSpan Spacing(WebhookEndpointOptions endpoint)
        => TimeSpan.FromTicks(Math.Min(endpoint.MaxBackoff.Ticks, Math.Max(endpoint.InitialBackoff.Ticks, EarlyRetrySpacing.Ticks)));

    private Task OnDueAsync(CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        _timer = null;
        return deliver(cancellationToken);
    }

    /// <summary>
    /// A cheap probe (<see cref="WebhookSender.ProbeAsync"/>) while the attempt is backed off. An
    /// endpoint seen unreachable (a probe without an answer, an attempt without a connection) that
    /// answers gets its attempt brought forward; one that answers probes but fails deliveries (a
    /// 500 to every POST) is never armed, so the backoff still spares it.
    /// </summary>
    private async Task ProbeAsync(CancellationToken cancellationToken)
    {
        if (_timer is null || !canSchedule() || endpoint() is not { } current)
        {
            StopProbing();
            return;
        }

        if (!await probe(current))
        {
            _armed = true;
        }
        else if (_armed)
        {
            _armed = false;
            RetrySoon();
        }
    }

    private void StopProbing()
    {
        _probing?.Dispose();
        _probing = null;
        _armed = false;
    }

    /// <summary>The wait before the next attempt: doubling from InitialBackoff, MaxBackoff once failing; with jitter (half to all of it).</summary>
    private TimeSpan Backoff(WebhookEndpointOptions endpoint)
    {
        var nominal = Failures >= endpoint.FailureThreshold
            ? endpoint.MaxBackoff
            : TimeSpan.FromTicks((long)Math.Min(endpoint.MaxBackoff.Ticks, endpoint.InitialBackoff.Ticks * Math.Pow(2, Failures - 1)));
        return nominal * (0.5 + (Random.Shared.NextDouble() * 0.5));
    }
}
