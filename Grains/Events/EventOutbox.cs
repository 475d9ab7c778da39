using Microsoft.Extensions.Logging;

namespace Registry.Grains;

/// <summary>
/// A repository's event outbox: each change puts its event into the repository's state with the
/// change (<see cref="RepositoryState.Outbox"/>), and the event is published from there once a
/// state write covers it. Where the stream is durable (cluster mode) an event leaves the outbox
/// once published. Where it is not (embedded mode's memory streams,
/// <see cref="EventOutboxOptions.AwaitAcknowledgements"/>), it stays until every awaited consumer
/// has stored it and acknowledged it (<see cref="Acknowledge"/>); a new activation publishes
/// everything still in the outbox again (<see cref="ActivateAsync"/>). Either way removals are not
/// written on their own: they ride along with the next state write, or a deferred one
/// (<see cref="EventOutboxOptions.TrimDelay"/>), so the push path gains no write and no call.
/// </summary>
/// <remarks>
/// Not thread-safe: it runs on its grain's scheduler, like the grain. Its ports: the state
/// (<paramref name="state"/>), a state write covering every change so far (<paramref name="commit"/>,
/// the grain's <see cref="GroupCommit"/>, whose write goes through <see cref="TrackWriteAsync"/>),
/// the streams (<paramref name="publish"/>, one batch of events to every stream), and a one-shot
/// timer that does not keep the activation alive (<paramref name="startTimer"/>).
/// </remarks>
public sealed class EventOutbox(
    string repository,
    Func<RepositoryState> state,
    Func<Task> commit,
    Func<IReadOnlyList<RegistryEvent>, Task> publish,
    Func<Func<CancellationToken, Task>, TimeSpan, IDisposable> startTimer,
    EventOutboxOptions options,
    EventOutboxMetrics metrics,
    TimeProvider time,
    ILogger logger)
{
    /// <summary>At most this many events per publish: one queue message each, within Azure Queue's 64 KiB message limit.</summary>
    public const int PublishBatchSize = 32;

    /// <summary>The last event sequence number included in a completed state write.</summary>
    private long _durableSequence;

    /// <summary>The last outbox sequence number this activation handed to the streams.</summary>
    private long _publishedSequence;

    /// <summary>Published events that wait for acknowledgements, by id (only when <see cref="EventOutboxOptions.Awaited"/> is not none).</summary>
    private readonly Dictionary<string, AwaitedEvent> _awaiting = new(StringComparer.Ordinal);

    /// <summary>Counts removals from the outbox; <see cref="_storedTrims"/> is the count the last completed write included.</summary>
    private long _trims;
    private long _storedTrims;

    /// <summary>The deferred trim write and age check, while something waits for either.</summary>
    private IDisposable? _timer;

    private Task? _publishing;

    private RepositoryState S => state();

    /// <summary>How many events the outbox holds.</summary>
    public int Count => S.Outbox.Count;

    /// <summary>Whether removals from the outbox wait for a state write to record them.</summary>
    public bool HasUnrecordedRemovals => _trims != _storedTrims;

    /// <summary>
    /// Everything loaded is durable. What is in the outbox may not have reached its consumers (a
    /// crash before the publish, or, with memory streams, before the consumers stored it): it all
    /// goes out now, and consumers drop the ids they have.
    /// </summary>
    public Task ActivateAsync()
    {
        _durableSequence = S.EventSequence;
        return PublishAsync();
    }

    /// <summary>Puts the event of a change into the outbox, in the same turn as the change.</summary>
    public void Add(RegistryEvent @event) => S.Outbox.Add(new OutboxEntry(++S.EventSequence, @event));

    /// <summary>
    /// Runs a state write (the grain's, inside <see cref="GroupCommit"/>) and records what it covered:
    /// the events it made durable and the removals it stored.
    /// </summary>
    public async Task TrackWriteAsync(Func<Task> write)
    {
        var covering = S.EventSequence;
        var trims = _trims;
        await write();
        _durableSequence = Math.Max(_durableSequence, covering);
        _storedTrims = Math.Max(_storedTrims, trims);
    }

    /// <summary>Records removals not yet stored (on deactivation); a failure only means the events go out once more.</summary>
    public async Task FlushAsync()
    {
        if (!HasUnrecordedRemovals)
        {
            return;
        }

        try
        {
            await commit();
        }
        catch (Exception e)
        {
            // Harmless: the published events stay in the stored outbox and go out once more.
            EventOutboxLog.TrimFailed(logger, e, repository);
        }
    }

    /// <summary>A consumer has stored these events: each leaves the outbox once every awaited consumer has said so.</summary>
    public void Acknowledge(EventConsumers consumer, IReadOnlyList<string> eventIds)
    {
        var awaited = options.Awaited;
        var removed = 0;
        foreach (var id in eventIds)
        {
            if (!_awaiting.TryGetValue(id, out var waiting))
            {
                // Acknowledged already, dropped, or from an earlier activation's publish: this one
                // publishes it again (if still in the outbox) and the consumer acknowledges that.
                continue;
            }

            waiting.Acknowledged |= consumer;
            if ((waiting.Acknowledged & awaited) != awaited)
            {
                continue;
            }

            _awaiting.Remove(id);
            var index = S.Outbox.FindIndex(e => e.Sequence == waiting.Sequence);
            if (index >= 0)
            {
                S.Outbox.RemoveAt(index);
                removed++;
            }
        }

        if (removed > 0)
        {
            Trimmed();
        }
    }

    /// <summary>Publishes the durable outbox events this activation has not published, in order, one publisher at a time.</summary>
    public async Task PublishAsync()
    {
        while (HasUnpublished())
        {
            if (_publishing is { IsCompleted: false } running)
            {
                await running;
                continue;
            }

            _publishing = PublishDurableAsync();
            try
            {
                await _publishing;
            }
            catch (Exception e)
            {
                // The events stay in the outbox; the next change or activation publishes them.
                EventOutboxLog.PublishFailed(logger, e, repository);
                return;
            }
        }
    }

    /// <summary>Whether the outbox holds a durable event this activation has not published.</summary>
    private bool HasUnpublished()
    {
        // The outbox is ordered by sequence; published events waiting for acknowledgements come first.
        for (var i = S.Outbox.Count - 1; i >= 0; i--)
        {
            var sequence = S.Outbox[i].Sequence;
            if (sequence <= _publishedSequence)
            {
                return false;
            }

            if (sequence <= _durableSequence)
            {
                return true;
            }
        }

        return false;
    }

    private async Task PublishDurableAsync()
    {
        var batch = S.Outbox.Where(e => e.Sequence > _publishedSequence && e.Sequence <= _durableSequence).ToList();
        var awaited = options.Awaited;
        foreach (var chunk in batch.Chunk(PublishBatchSize))
        {
            await publish(chunk.Select(e => e.Event).ToArray());
            _publishedSequence = chunk[^1].Sequence;
            if (awaited == EventConsumers.None)
            {
                // A durable stream has them now.
                S.Outbox.RemoveRange(0, chunk.Length);
                Trimmed();
                continue;
            }

            var now = time.GetUtcNow();
            foreach (var entry in chunk)
            {
                _awaiting[entry.Event.Id] = new AwaitedEvent(entry.Sequence, now);
            }
        }

        if (awaited != EventConsumers.None)
        {
            DropBeyondBounds(time.GetUtcNow());
            EnsureTimer();
        }
    }

    /// <summary>Events left the outbox: the next write records it, or the deferred one.</summary>
    private void Trimmed()
    {
        _trims++;
        EnsureTimer();
    }

    /// <summary>
    /// A one-shot timer while the outbox has a removal to record or events waiting for
    /// acknowledgements; it does not keep the activation alive (deactivation records removals too).
    /// </summary>
    private void EnsureTimer()
    {
        if (_timer is not null || (!HasUnrecordedRemovals && _awaiting.Count == 0))
        {
            return;
        }

        var due = options.TrimDelay > TimeSpan.Zero ? options.TrimDelay : TimeSpan.FromSeconds(1);
        _timer = startTimer(OnTimerAsync, due);
    }

    private async Task OnTimerAsync(CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        _timer = null;
        DropBeyondBounds(time.GetUtcNow());
        try
        {
            if (HasUnrecordedRemovals)
            {
                await commit();
            }
        }
        catch (Exception e)
        {
            // The activation is being replaced (GroupCommit); what is stored goes out once more.
            EventOutboxLog.TrimFailed(logger, e, repository);
            return;
        }

        EnsureTimer();
    }

    /// <summary>
    /// Keeps the outbox bounded when acknowledgements do not come (a consumer failing for good):
    /// the oldest published events beyond <see cref="EventOutboxOptions.Capacity"/> or older than
    /// <see cref="EventOutboxOptions.MaxAge"/> are dropped. They were published; only their
    /// redelivery after a crash is given up.
    /// </summary>
    private void DropBeyondBounds(DateTimeOffset now)
    {
        var capacity = Math.Max(0, options.Capacity);
        var drop = 0;
        var missing = EventConsumers.None;
        while (drop < S.Outbox.Count
            && S.Outbox[drop].Sequence <= _publishedSequence
            && _awaiting.TryGetValue(S.Outbox[drop].Event.Id, out var waiting)
            && (_awaiting.Count > capacity || now - waiting.PublishedAt > options.MaxAge))
        {
            missing |= options.Awaited & ~waiting.Acknowledged;
            _awaiting.Remove(S.Outbox[drop].Event.Id);
            drop++;
        }

        if (drop == 0)
        {
            return;
        }

        S.Outbox.RemoveRange(0, drop);
        metrics.Dropped(drop);
        EventOutboxLog.Dropped(logger, drop, repository, missing, options.Capacity, options.MaxAge);
        Trimmed();
    }

    /// <summary>A published event waiting for the consumers' acknowledgements.</summary>
    private sealed class AwaitedEvent(long sequence, DateTimeOffset publishedAt)
    {
        public long Sequence { get; } = sequence;

        public DateTimeOffset PublishedAt { get; } = publishedAt;

        public EventConsumers Acknowledged { get; set; }
    }
}

internal static partial class EventOutboxLog
{
    [LoggerMessage(1, LogLevel.Warning, "Publishing events of {Repository} failed; they stay in its outbox")]
    public static partial void PublishFailed(ILogger logger, Exception exception, string repository);

    [LoggerMessage(2, LogLevel.Information, "Could not record that events of {Repository} left its outbox; they are published once more")]
    public static partial void TrimFailed(ILogger logger, Exception exception, string repository);

    [LoggerMessage(3, LogLevel.Warning, "Dropped {Count} published events of {Repository} from its outbox unacknowledged by {Missing} (Capacity {Capacity}, MaxAge {MaxAge}): a crash may lose them")]
    public static partial void Dropped(ILogger logger, int count, string repository, EventConsumers missing, int capacity, TimeSpan maxAge);
}
