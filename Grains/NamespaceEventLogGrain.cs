using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Orleans.Storage;
using Orleans.Streams;

namespace Registry.Grains;

public sealed class EventLogOptions
{
    /// <summary>How many of a namespace's recent events are kept for resuming watchers (at least this many).</summary>
    public int Capacity { get; set; } = 10_000;

    /// <summary>
    /// Events are stored in sealed segments of this many plus an open tail, so a new event rewrites
    /// at most this many stored events, never the whole log. Capped by <see cref="Capacity"/>.
    /// </summary>
    public int SegmentSize { get; set; } = 256;
}

/// <summary>
/// The stored part of an event log: the open tail, which segments are sealed, and the numbering.
/// </summary>
[GenerateSerializer, Alias("registry.event-log-state")]
public sealed class EventLogState
{
    /// <summary>The sequence number of the last event logged (0 before the first).</summary>
    [Id(0)] public long LastSequence { get; set; }

    /// <summary>The newest events, not yet in a sealed segment, oldest first.</summary>
    [Id(1)] public List<LoggedEvent> Tail { get; set; } = [];

    /// <summary>The sealed segments kept, oldest first.</summary>
    [Id(2)] public List<EventSegmentRef> Segments { get; set; } = [];

    /// <summary>The number the next sealed segment is stored under.</summary>
    [Id(3)] public long NextSegment { get; set; }
}

[GenerateSerializer, Immutable, Alias("registry.event-segment-ref")]
public sealed record EventSegmentRef([property: Id(0)] long Number, [property: Id(1)] long First, [property: Id(2)] long Last)
{
    public long Count => Last - First + 1;
}

[GenerateSerializer, Alias("registry.event-segment")]
public sealed class EventSegment
{
    [Id(0)] public List<LoggedEvent> Events { get; set; } = [];
}

/// <summary>
/// Consumes a namespace stream (implicit subscription), numbers and keeps its recent events.
/// Delivery of the stream is at least once: an id seen among the recent events is dropped. An
/// event is numbered and made durable before the delivery is acknowledged and before any reader
/// can see it, so a number, once read, always means the same event. Where the repository's outbox
/// waits for it (<see cref="EventOutboxOptions.AwaitAcknowledgements"/>), a stored event, or a
/// duplicate of one, is then acknowledged to its repository.
/// </summary>
[ImplicitStreamSubscription(RegistryStreams.NamespaceStreamNamespace)]
public sealed class NamespaceEventLogGrain : Grain, INamespaceEventLogGrain
{
    private const string SegmentStateName = "registry-event-segment";
    private const int MaxPage = 1000;
    private const int CachedSegments = 4;
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(25);

    private readonly IPersistentState<EventLogState> _state;
    private readonly ILogger<NamespaceEventLogGrain> _logger;
    private readonly int _capacity;
    private readonly int _segmentSize;
    private readonly bool _acknowledge;
    private readonly Dictionary<long, List<LoggedEvent>> _segmentCache = [];
    private RecentIds _recent = null!;
    private IGrainStorage _storage = null!;
    private TaskCompletionSource _appended = NewSignal();
    private readonly TaskCompletionSource _stopping = NewSignal();
    private CancellationTokenRegistration _stoppingRegistration;

    /// <summary>The last sequence number that is durable (what readers may see).</summary>
    private long _durable;

    /// <summary>Set when a write failed: this activation's memory is ahead of storage and must not be read.</summary>
    private bool _failed;

    public NamespaceEventLogGrain(
        [PersistentState("eventlog", GrainStorageNames.Provider)] IPersistentState<EventLogState> state,
        IOptions<EventLogOptions> options,
        IOptions<EventOutboxOptions> outbox,
        ILogger<NamespaceEventLogGrain> logger)
    {
        _acknowledge = outbox.Value.Acknowledges(EventConsumers.EventLog);
        _state = state;
        _logger = logger;
        _capacity = Math.Max(1, options.Value.Capacity);
        _segmentSize = Math.Clamp(options.Value.SegmentSize, 1, _capacity);
    }

    private EventLogState S => _state.State;

    private string Key => this.GetPrimaryKeyString();

    /// <summary>The oldest sequence number kept; <c>LastSequence + 1</c> when nothing is.</summary>
    private long First => S.Segments.Count > 0 ? S.Segments[0].First : S.Tail.Count > 0 ? S.Tail[0].Sequence : S.LastSequence + 1;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _storage = ServiceProvider.GetRequiredKeyedService<IGrainStorage>(GrainStorageNames.Provider);

        // Long polls end when the host stops, so they never hold up its shutdown.
        if (ServiceProvider.GetService<IHostApplicationLifetime>() is { } lifetime)
        {
            _stoppingRegistration = lifetime.ApplicationStopping.Register(() => _stopping.TrySetResult());
        }

        _durable = S.LastSequence;

        // Duplicates arrive close to their original, typically: remember the ids of the newest
        // sealed segment and the tail now, and every id from here on (up to the capacity).
        _recent = new RecentIds(_capacity);
        if (S.Segments.Count > 0)
        {
            foreach (var e in await LoadSegmentAsync(S.Segments[^1].Number))
            {
                _recent.Add(e.Event.Id);
            }
        }

        foreach (var e in S.Tail)
        {
            _recent.Add(e.Event.Id);
        }

        var stream = this.GetStreamProvider(RegistryStreams.Provider).GetStream<RegistryEvent>(StreamId.Create(RegistryStreams.NamespaceStreamNamespace, Key));
        await stream.SubscribeAsync(OnNextBatchAsync);
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _stoppingRegistration.Dispose();
        return Task.CompletedTask;
    }

    public async Task<EventLogPage> ReadAfter(long sequence, int max)
    {
        ThrowIfFailed();
        max = Math.Clamp(max, 1, MaxPage);
        var first = First;
        var last = S.LastSequence;
        var gap = sequence < first - 1 || sequence > last;
        var after = sequence > last ? last : Math.Max(sequence, first - 1);

        var events = new List<LoggedEvent>();
        foreach (var segment in S.Segments.ToArray())
        {
            if (segment.Last <= after)
            {
                continue;
            }

            foreach (var e in await LoadSegmentAsync(segment.Number))
            {
                if (e.Sequence > after && events.Count < max)
                {
                    events.Add(e);
                }
            }

            if (events.Count >= max)
            {
                return new EventLogPage(events, first, last, gap);
            }
        }

        events.AddRange(S.Tail.Where(e => e.Sequence > after).Take(max - events.Count));
        return new EventLogPage(events, first, last, gap);
    }

    public async Task<long> WaitAfter(long sequence, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ThrowIfFailed();
        if (_durable > sequence || timeout <= TimeSpan.Zero || cancellationToken.IsCancellationRequested)
        {
            return _durable;
        }

        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var expired = Task.Delay(timeout < MaxWait ? timeout : MaxWait, timer.Token);
        await Task.WhenAny(_appended.Task, _stopping.Task, expired);
        await timer.CancelAsync();
        ThrowIfFailed();
        return _durable;
    }

    public Task<long> GetLastSequence()
    {
        ThrowIfFailed();
        return Task.FromResult(_durable);
    }

    /// <summary>
    /// Numbers the new events of a delivery and stores them in one write. A delivery holds at least
    /// one publish of a repository (a group commit's events), and in embedded mode every publish
    /// that arrived while the previous write ran, so the log keeps pace with pushes.
    /// </summary>
    private async Task OnNextBatchAsync(IList<SequentialItem<RegistryEvent>> delivery)
    {
        ThrowIfFailed();
        var added = false;
        foreach (var item in delivery)
        {
            // An id seen is stored (a failed write fails the activation): a redelivery, acknowledged again.
            if (_recent.Add(item.Item.Id))
            {
                S.Tail.Add(new LoggedEvent(S.LastSequence + 1, item.Item));
                S.LastSequence++;
                added = true;
            }
        }

        if (added)
        {
            try
            {
                await PersistAsync();
            }
            catch (Exception ex)
            {
                // Storage has not got the events: this activation goes, the delivery fails and is
                // retried on a fresh activation, which numbers the events again from what is stored.
                _failed = true;
                DeactivateOnIdle();
                NamespaceEventLogLog.WriteFailed(_logger, ex, Key);
                throw;
            }

            _durable = S.LastSequence;
            var appended = _appended;
            _appended = NewSignal();
            appended.SetResult();
        }

        Acknowledge(delivery);
    }

    /// <summary>Tells each event's repository that the log has stored it (one-way: nothing waits).</summary>
    private void Acknowledge(IList<SequentialItem<RegistryEvent>> delivery)
    {
        if (_acknowledge)
        {
            GrainFactory.AcknowledgeStored(EventConsumers.EventLog, delivery.Select(item => item.Item));
        }
    }

    /// <summary>
    /// Writes the tail. Each full segment's worth of events at its head is first sealed into a
    /// segment of its own (written once), and the oldest segments beyond the capacity are dropped
    /// once the state no longer names them.
    /// </summary>
    private async Task PersistAsync()
    {
        List<EventSegmentRef> dropped = [];
        while (S.Tail.Count >= _segmentSize)
        {
            var number = S.NextSegment;
            var events = S.Tail[.._segmentSize];

            // A crash after this write and before the state's leaves the segment unnamed; the next
            // seal writes the same number again, over it.
            await WriteSegmentAsync(number, events);
            S.Segments.Add(new EventSegmentRef(number, events[0].Sequence, events[^1].Sequence));
            S.NextSegment = number + 1;
            S.Tail = S.Tail[_segmentSize..];
            Cache(number, events);
        }

        while (S.Segments.Count > 1 && S.Segments.Sum(s => s.Count) - S.Segments[0].Count >= _capacity)
        {
            dropped.Add(S.Segments[0]);
            S.Segments.RemoveAt(0);
        }

        await _state.WriteStateAsync();
        foreach (var segment in dropped)
        {
            _segmentCache.Remove(segment.Number);
            try
            {
                var stored = new SegmentState();
                await _storage.ReadStateAsync(SegmentStateName, SegmentId(segment.Number), stored);
                await _storage.ClearStateAsync(SegmentStateName, SegmentId(segment.Number), stored);
            }
            catch (Exception ex)
            {
                // Harmless: nothing names the segment any more; it only takes space.
                NamespaceEventLogLog.SegmentDeleteFailed(_logger, ex, Key, segment.Number);
            }
        }
    }

    private async Task WriteSegmentAsync(long number, List<LoggedEvent> events)
    {
        var stored = new SegmentState();
        await _storage.ReadStateAsync(SegmentStateName, SegmentId(number), stored);
        stored.State = new EventSegment { Events = events };
        await _storage.WriteStateAsync(SegmentStateName, SegmentId(number), stored);
    }

    private async Task<List<LoggedEvent>> LoadSegmentAsync(long number)
    {
        if (_segmentCache.TryGetValue(number, out var cached))
        {
            return cached;
        }

        var stored = new SegmentState();
        await _storage.ReadStateAsync(SegmentStateName, SegmentId(number), stored);
        var events = stored.RecordExists ? stored.State.Events : throw new InvalidOperationException($"Event segment {number} of namespace '{Key}' is missing from storage.");
        Cache(number, events);
        return events;
    }

    private void Cache(long number, List<LoggedEvent> events)
    {
        while (_segmentCache.Count >= CachedSegments)
        {
            _segmentCache.Remove(_segmentCache.Keys.Min());
        }

        _segmentCache[number] = events;
    }

    /// <summary>Segments are stored under ids of their own: <c>{namespace}/{number}</c>.</summary>
    private GrainId SegmentId(long number) => GrainId.Create(SegmentStateName, $"{Key}/{number}");

    private void ThrowIfFailed()
    {
        if (_failed)
        {
            throw new InvalidOperationException($"The event log of namespace '{Key}' failed to write and is being reactivated; retry.");
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class SegmentState : IGrainState<EventSegment>
    {
        private EventSegment _state = new();

        [System.Diagnostics.CodeAnalysis.AllowNull]
        public EventSegment State
        {
            get => _state;
            set => _state = value ?? new();
        }

        public string? ETag { get; set; }

        public bool RecordExists { get; set; }
    }
}

internal static partial class NamespaceEventLogLog
{
    [LoggerMessage(1, LogLevel.Error, "The event log of namespace '{Namespace}' could not write an event; it reactivates and the event is redelivered")]
    public static partial void WriteFailed(ILogger logger, Exception exception, string @namespace);

    [LoggerMessage(2, LogLevel.Warning, "Could not delete dropped event segment {Segment} of namespace '{Namespace}'")]
    public static partial void SegmentDeleteFailed(ILogger logger, Exception exception, string @namespace, long segment);
}
