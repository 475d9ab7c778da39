using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Runtime;

namespace Registry.Grains;

[GenerateSerializer, Alias("registry.webhook-queue-state")]
public sealed class WebhookQueueState
{
    /// <summary>Events not yet delivered, oldest first.</summary>
    [Id(0)] public List<RegistryEvent> Pending { get; set; } = [];

    /// <summary>Ids of the events most recently accepted, oldest first (at most <see cref="WebhookQueueGrain.RecentIdLimit"/>): a snapshot of the grain's window taken at each write.</summary>
    [Id(1)] public List<string> RecentIds { get; set; } = [];

    /// <summary>Events dropped since the queue was created.</summary>
    [Id(2)] public long Dropped { get; set; }
}

/// <summary>
/// One endpoint's queue for one namespace. <see cref="Enqueue"/> stores the event before it returns;
/// delivery runs from a grain timer that interleaves with enqueues, so a slow or dead endpoint never
/// holds up an enqueue (and so never a push). Delivery is FIFO: the head is retried, with backoff,
/// until it is delivered or dropped because the queue overflowed.
/// </summary>
/// <remarks>
/// Reentrant: every method changes the state within one turn, and state writes are coalesced
/// (<see cref="GroupCommit"/>), so enqueues and the delivery loop never write concurrently.
/// </remarks>
[Reentrant]
public sealed class WebhookQueueGrain : Grain, IWebhookQueueGrain
{
    /// <summary>How many recent event ids each queue remembers to drop duplicates.</summary>
    public const int RecentIdLimit = 1024;

    private static readonly TimeSpan DropLogInterval = TimeSpan.FromMinutes(1);

    private readonly IPersistentState<WebhookQueueState> _state;
    private readonly IOptionsMonitor<WebhookOptions> _options;
    private readonly WebhookSender _sender;
    private readonly WebhookMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<WebhookQueueGrain> _logger;
    private readonly GroupCommit _commit;
    private readonly RecentIds _recent = new(RecentIdLimit);

    /// <summary>The pending delivery (immediate or after a backoff), if one is scheduled.</summary>
    private IGrainTimer? _timer;

    /// <summary>When the scheduled delivery is due, and when the last POST was made (for <see cref="RetrySoon"/>).</summary>
    private DateTimeOffset _dueAt;
    private DateTimeOffset _lastAttempt = DateTimeOffset.MinValue;

    private bool _delivering;
    private int _failures;

    /// <summary>Whether the directory is known to record this queue.</summary>
    private bool _inDirectory;

    /// <summary>Counts changes of the state; <see cref="_durableVersion"/> is the one last written.</summary>
    private long _version;
    private long _durableVersion;

    private int _reportedPending;
    private int _droppedUnlogged;
    private DateTimeOffset _lastDropLog = DateTimeOffset.MinValue;

    public WebhookQueueGrain(
        [PersistentState("webhook-queue", GrainStorageNames.Provider)] IPersistentState<WebhookQueueState> state,
        IOptionsMonitor<WebhookOptions> options,
        WebhookSender sender,
        WebhookMetrics metrics,
        TimeProvider time,
        ILogger<WebhookQueueGrain> logger)
    {
        _state = state;
        _options = options;
        _sender = sender;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        _commit = new GroupCommit(WriteAsync, DeactivateOnIdle);
    }

    private WebhookQueueState S => _state.State;

    private string Key => this.GetPrimaryKeyString();

    private string EndpointName => WebhookQueueKey.EndpointOf(Key);

    private WebhookEndpointOptions? Endpoint => _options.CurrentValue.Find(EndpointName);

    private IWebhookDirectoryGrain Directory => GrainFactory.GetGrain<IWebhookDirectoryGrain>(0);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var id in S.RecentIds)
        {
            _recent.Add(id);
        }

        if (S.Pending.Count > 0)
        {
            // Stored events always belong to a recorded queue; recording again is cheap and makes sure.
            await Directory.Add(Key);
            _inDirectory = true;
            ReportPending();
            ScheduleDelivery(TimeSpan.Zero);
        }
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _metrics.PendingChanged(EndpointName, -_reportedPending);
        _reportedPending = 0;
        // Not while the silo stops (the directory may be gone already): a record of an empty queue is harmless.
        if (_inDirectory && S.Pending.Count == 0 && _version == _durableVersion && !_delivering && reason.ReasonCode != DeactivationReasonCode.ShuttingDown)
        {
            try
            {
                _inDirectory = false;
                await Directory.Remove(Key);
            }
            catch (Exception e)
            {
                // Harmless: the next wake finds the queue empty and removes it then.
                WebhookLog.DirectoryRemoveFailed(_logger, e, Key);
            }
        }
    }

    public async Task Enqueue(RegistryEvent @event)
    {
        if (Endpoint is not { } endpoint)
        {
            return;
        }

        if (_recent.Add(@event.Id))
        {
            S.Pending.Add(@event);
            var excess = S.Pending.Count - endpoint.MaxPending;
            if (excess > 0)
            {
                Drop(excess, $"the queue holds more than MaxPending {endpoint.MaxPending} events");
            }

            Changed();
        }

        // A duplicate waits for a write too: it returns only once what it carried is stored.
        await _commit.CommitAsync();
        ScheduleDelivery(TimeSpan.Zero);
        RetrySoon();
    }

    public Task Wake()
    {
        if (S.Pending.Count > 0)
        {
            ScheduleDelivery(TimeSpan.Zero);
            RetrySoon();
        }
        else
        {
            // The directory records this queue (it just woke it) but it holds nothing: let it go.
            _inDirectory = true;
            DeactivateOnIdle();
        }

        return Task.CompletedTask;
    }

    public ValueTask<WebhookQueueStatus> GetStatus()
        => ValueTask.FromResult(new WebhookQueueStatus(S.Pending.Count, S.Dropped, _failures, _failures >= (Endpoint?.FailureThreshold ?? int.MaxValue)));

    /// <summary>Schedules a delivery unless one is running (it goes on until the queue is empty) or already scheduled.</summary>
    private void ScheduleDelivery(TimeSpan due)
    {
        if (_delivering || _timer is not null || S.Pending.Count == 0)
        {
            return;
        }

        _dueAt = _time.GetUtcNow() + due;
        _timer = this.RegisterGrainTimer(DeliverAsync, new GrainTimerCreationOptions(due, Timeout.InfiniteTimeSpan)
        {
            Interleave = true,
            KeepAlive = true,
        });
    }

    private async Task DeliverAsync(CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        _timer = null;
        _delivering = true;
        try
        {
            while (S.Pending.Count > 0)
            {
                if (Endpoint is not { } endpoint)
                {
                    Drop(S.Pending.Count, "the endpoint is no longer configured");
                    Changed();
                    await _commit.CommitAsync();
                    return;
                }

                // A copy: enqueues and drops change the queue while the POST is in flight.
                var batch = S.Pending.GetRange(0, Math.Min(S.Pending.Count, endpoint.MaxEventsPerPost));
                _lastAttempt = _time.GetUtcNow();
                var attempt = await _sender.PostAsync(endpoint, EventEnvelope.Serialize(batch));
                if (!attempt.Delivered)
                {
                    _failures++;
                    _metrics.FailedAttempt(endpoint.Name);
                    var delay = Backoff(endpoint);
                    if (_failures == endpoint.FailureThreshold)
                    {
                        WebhookLog.EndpointFailing(_logger, endpoint.Name, Key, _failures, attempt.Outcome, S.Pending.Count, delay);
                    }
                    else
                    {
                        WebhookLog.AttemptFailed(_logger, endpoint.Name, Key, _failures, attempt.Outcome, delay);
                    }

                    _delivering = false;
                    ScheduleDelivery(delay);
                    return;
                }

                if (_failures >= endpoint.FailureThreshold)
                {
                    WebhookLog.EndpointRecovered(_logger, endpoint.Name, Key, _failures);
                }

                _failures = 0;

                // Overflow may have dropped the oldest events while the POST was in flight: what is
                // left of the batch is still at the head.
                var sent = batch.Select(e => e.Id).ToHashSet(StringComparer.Ordinal);
                var delivered = 0;
                var now = _time.GetUtcNow();
                while (delivered < S.Pending.Count && sent.Contains(S.Pending[delivered].Id))
                {
                    _metrics.Latency(endpoint.Name, now - S.Pending[delivered].Timestamp);
                    delivered++;
                }

                S.Pending.RemoveRange(0, delivered);
                _metrics.Delivered(endpoint.Name, delivered);
                Changed();
                await _commit.CommitAsync();
            }
        }
        catch (Exception e)
        {
            // A failed state write: the activation is being replaced and the stored queue goes out
            // again from the next one (delivered events once more: at least once).
            WebhookLog.DeliveryStopped(_logger, e, Key);
        }
        finally
        {
            _delivering = false;
        }
    }

    /// <summary>
    /// A new event, or the periodic wake-up, while the queue backs off: the next attempt comes early,
    /// but never sooner than <see cref="ProbeSpacing"/> after the last one. So an endpoint that is
    /// back gets its events within seconds instead of after MaxBackoff, and a dead one is still
    /// asked at most once per spacing, however many events arrive.
    /// </summary>
    private void RetrySoon()
    {
        if (_timer is null || _delivering || Endpoint is not { } endpoint)
        {
            return;
        }

        var now = _time.GetUtcNow();
        var at = _lastAttempt + ProbeSpacing(endpoint) is var spaced && spaced > now ? spaced : now;
        if (at >= _dueAt)
        {
            return;
        }

        _timer.Dispose();
        _timer = null;
        ScheduleDelivery(at - now);
    }

    /// <summary>The least time between attempts that <see cref="RetrySoon"/> brings forward: 5 s, within the endpoint's backoff range.</summary>
    private static TimeSpan ProbeSpacing(WebhookEndpointOptions endpoint)
        => TimeSpan.FromTicks(Math.Min(endpoint.MaxBackoff.Ticks, Math.Max(endpoint.InitialBackoff.Ticks, EarlyRetrySpacing.Ticks)));

    private static readonly TimeSpan EarlyRetrySpacing = TimeSpan.FromSeconds(5);

    /// <summary>The wait before the next attempt: doubling from InitialBackoff, MaxBackoff once failing; with jitter (half to all of it).</summary>
    private TimeSpan Backoff(WebhookEndpointOptions endpoint)
    {
        var nominal = _failures >= endpoint.FailureThreshold
            ? endpoint.MaxBackoff
            : TimeSpan.FromTicks((long)Math.Min(endpoint.MaxBackoff.Ticks, endpoint.InitialBackoff.Ticks * Math.Pow(2, _failures - 1)));
        return nominal * (0.5 + (Random.Shared.NextDouble() * 0.5));
    }

    private void Drop(int count, string why)
    {
        S.Pending.RemoveRange(0, count);
        S.Dropped += count;
        _metrics.Dropped(EndpointName, count);
        _droppedUnlogged += count;
        var now = _time.GetUtcNow();
        if (now - _lastDropLog >= DropLogInterval)
        {
            WebhookLog.Dropped(_logger, _droppedUnlogged, EndpointName, Key, why, S.Dropped);
            _droppedUnlogged = 0;
            _lastDropLog = now;
        }
    }

    /// <summary>After a change of the state: it needs a write, and the pending gauge follows.</summary>
    private void Changed()
    {
        _version++;
        ReportPending();
    }

    private void ReportPending()
    {
        _metrics.PendingChanged(EndpointName, S.Pending.Count - _reportedPending);
        _reportedPending = S.Pending.Count;
    }

    private async Task WriteAsync()
    {
        if (S.Pending.Count > 0 && !_inDirectory)
        {
            await Directory.Add(Key);
            _inDirectory = true;
        }

        var covering = _version;
        S.RecentIds = [.. _recent];
        await _state.WriteStateAsync();
        _durableVersion = Math.Max(_durableVersion, covering);
    }
}

internal static partial class WebhookLog
{
    [LoggerMessage(1, LogLevel.Debug, "Webhook {Endpoint} ({Queue}): attempt {Failures} failed ({Outcome}); next in {Delay}")]
    public static partial void AttemptFailed(ILogger logger, string endpoint, string queue, int failures, string outcome, TimeSpan delay);

    [LoggerMessage(2, LogLevel.Warning, "Webhook {Endpoint} ({Queue}) is failing: {Failures} attempts in a row failed, the last with {Outcome}; {Pending} events wait, retried every {Delay}")]
    public static partial void EndpointFailing(ILogger logger, string endpoint, string queue, int failures, string outcome, int pending, TimeSpan delay);

    [LoggerMessage(3, LogLevel.Information, "Webhook {Endpoint} ({Queue}) recovered after {Failures} failed attempts")]
    public static partial void EndpointRecovered(ILogger logger, string endpoint, string queue, int failures);

    [LoggerMessage(4, LogLevel.Warning, "Webhook {Endpoint} ({Queue}): dropped the {Count} oldest undelivered events because {Reason} ({Total} dropped in all)")]
    public static partial void Dropped(ILogger logger, int count, string endpoint, string queue, string reason, long total);

    [LoggerMessage(5, LogLevel.Warning, "Webhook queue {Queue} stopped delivering; its stored events go out from its next activation")]
    public static partial void DeliveryStopped(ILogger logger, Exception exception, string queue);

    [LoggerMessage(6, LogLevel.Information, "Could not remove the empty webhook queue {Queue} from the directory")]
    public static partial void DirectoryRemoveFailed(ILogger logger, Exception exception, string queue);
}
