using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>
/// A repository's event outbox on its own: a state kept in memory, a real <see cref="GroupCommit"/>
/// whose writes record what they stored, a publisher that records the batches, and a timer the
/// test fires; every test runs one turn at a time, as the grain would.
/// </summary>
[Trait("Category", "Fast")]
public sealed class EventOutboxTests
{
    [Fact]
    public Task ClusterModePublishesDurableEventsThenRemovesThemWithTheNextWrite() => GrainTurns.RunAsync(async () =>
    {
        using var outbox = new OutboxHarness(new EventOutboxOptions { TrimDelay = TimeSpan.FromSeconds(3) });
        var first = outbox.Add();
        var second = outbox.Add();

        // Not durable yet: nothing goes out.
        await outbox.Outbox.PublishAsync();
        Assert.Empty(outbox.Published);

        await outbox.Commit.CommitAsync();
        Assert.Equal([1L, 2L], outbox.StoredSequences);
        await outbox.Outbox.PublishAsync();
        Assert.Equal([[first.Id, second.Id]], outbox.PublishedIds);
        Assert.Equal(0, outbox.Outbox.Count);

        // The removal is not written on its own: it rides the next change's write...
        Assert.True(outbox.Outbox.HasUnrecordedRemovals);
        Assert.Equal(1, outbox.Writes);
        var third = outbox.Add();
        await outbox.Commit.CommitAsync();
        Assert.Equal([3L], outbox.StoredSequences);
        await outbox.Outbox.PublishAsync();
        Assert.Equal(third.Id, outbox.Published[^1].Single().Id);

        // ... or the deferred one, when no change comes.
        var timer = Assert.Single(outbox.Timers);
        Assert.Equal(TimeSpan.FromSeconds(3), timer.Due);
        await outbox.FireTimerAsync();
        Assert.Empty(outbox.StoredSequences);
        Assert.Equal(3, outbox.Writes);
        Assert.False(outbox.Outbox.HasUnrecordedRemovals);
        Assert.Empty(outbox.Timers);
    });

    [Fact]
    public Task EmbeddedModeKeepsAnEventUntilEveryAwaitedConsumerAcknowledgedIt() => GrainTurns.RunAsync(async () =>
    {
        using var outbox = new OutboxHarness(Embedded());
        var first = outbox.Add();
        var second = outbox.Add();
        await outbox.Commit.CommitAsync();
        await outbox.Outbox.PublishAsync();
        Assert.Equal(2, outbox.Outbox.Count);
        Assert.Single(outbox.Timers);

        outbox.Outbox.Acknowledge(EventConsumers.EventLog, [first.Id, second.Id]);
        outbox.Outbox.Acknowledge(EventConsumers.Subscribers, [first.Id]);
        outbox.Outbox.Acknowledge(EventConsumers.Webhooks, ["an id nobody published"]);
        Assert.Equal(2, outbox.Outbox.Count);
        Assert.False(outbox.Outbox.HasUnrecordedRemovals);

        outbox.Outbox.Acknowledge(EventConsumers.Webhooks, [first.Id]);
        Assert.Equal([2L], outbox.State.Outbox.Select(e => e.Sequence));
        Assert.True(outbox.Outbox.HasUnrecordedRemovals);

        // The deferred write records the removal; the timer comes back while an event still waits.
        await outbox.FireTimerAsync();
        Assert.Equal([2L], outbox.StoredSequences);
        Assert.Single(outbox.Timers);
    });

    [Fact]
    public Task ANewActivationPublishesEverythingTheStoredOutboxHolds() => GrainTurns.RunAsync(async () =>
    {
        // Cluster mode, a crash between the write and the publish.
        using var crashed = new OutboxHarness(new EventOutboxOptions());
        var events = new[] { crashed.Add(), crashed.Add() };
        await crashed.Commit.CommitAsync();

        using var restarted = new OutboxHarness(new EventOutboxOptions(), crashed.Stored);
        await restarted.Outbox.ActivateAsync();
        Assert.Equal([events.Select(e => e.Id).ToArray()], restarted.PublishedIds);
        Assert.Equal(0, restarted.Outbox.Count);

        // Embedded mode: what was published but not acknowledged by everyone goes out again.
        using var before = new OutboxHarness(Embedded());
        var acknowledged = before.Add();
        var pending = before.Add();
        await before.Commit.CommitAsync();
        await before.Outbox.PublishAsync();
        before.Outbox.Acknowledge(EventConsumers.EventLog | EventConsumers.Webhooks, [acknowledged.Id]);
        await before.Outbox.FlushAsync();
        Assert.Equal([2L], before.StoredSequences);

        using var after = new OutboxHarness(Embedded(), before.Stored);
        await after.Outbox.ActivateAsync();
        Assert.Equal([[pending.Id]], after.PublishedIds);
        Assert.Equal(1, after.Outbox.Count);

        // The next event continues the sequence.
        after.Add();
        Assert.Equal(3L, after.State.Outbox[^1].Sequence);
    });

    [Fact]
    public Task UnacknowledgedEventsBeyondCapacityOrMaxAgeAreDroppedAndCounted() => GrainTurns.RunAsync(async () =>
    {
        var options = Embedded();
        options.Capacity = 2;
        options.MaxAge = TimeSpan.FromMinutes(1);
        using var outbox = new OutboxHarness(options);
        outbox.Add();
        outbox.Add();
        outbox.Add();
        await outbox.Commit.CommitAsync();
        await outbox.Outbox.PublishAsync();

        // The oldest beyond the capacity goes at once.
        Assert.Equal([2L, 3L], outbox.State.Outbox.Select(e => e.Sequence));
        Assert.Equal(1, outbox.Dropped);

        // The rest when they are too old, on the timer, which then records the removals.
        outbox.Time.Advance(TimeSpan.FromMinutes(2));
        await outbox.FireTimerAsync();
        Assert.Equal(0, outbox.Outbox.Count);
        Assert.Equal(3, outbox.Dropped);
        Assert.Empty(outbox.StoredSequences);
        var writes = outbox.Writes;

        // The drop asked for a timer of its own before that write; it finds nothing left to do.
        await outbox.FireTimerAsync();
        Assert.Equal(writes, outbox.Writes);
        Assert.Empty(outbox.Timers);
    });

    [Fact]
    public Task AFailedPublishLeavesTheEventsForTheNextOne() => GrainTurns.RunAsync(async () =>
    {
        using var outbox = new OutboxHarness(new EventOutboxOptions());
        var @event = outbox.Add();
        await outbox.Commit.CommitAsync();

        outbox.FailPublishes = 1;
        await outbox.Outbox.PublishAsync();
        Assert.Empty(outbox.Published);
        Assert.Equal(1, outbox.Outbox.Count);

        await outbox.Outbox.PublishAsync();
        Assert.Equal([[@event.Id]], outbox.PublishedIds);
        Assert.Equal(0, outbox.Outbox.Count);
    });

    [Fact]
    public Task EventsGoOutInOrderInBatchesOfBoundedSize() => GrainTurns.RunAsync(async () =>
    {
        using var outbox = new OutboxHarness(new EventOutboxOptions());
        var events = Enumerable.Range(0, EventOutbox.PublishBatchSize + 8).Select(_ => outbox.Add()).ToList();
        await outbox.Commit.CommitAsync();
        await outbox.Outbox.PublishAsync();
        Assert.Equal([EventOutbox.PublishBatchSize, 8], outbox.Published.Select(b => b.Count));
        Assert.Equal(events.Select(e => e.Id), outbox.Published.SelectMany(b => b).Select(e => e.Id));
    });

    [Fact]
    public Task DeactivationRecordsRemovalsOnlyWhenThereAreAny() => GrainTurns.RunAsync(async () =>
    {
        using var outbox = new OutboxHarness(new EventOutboxOptions());
        await outbox.Outbox.FlushAsync();
        Assert.Equal(0, outbox.Writes);

        outbox.Add();
        await outbox.Commit.CommitAsync();
        await outbox.Outbox.PublishAsync();
        await outbox.Outbox.FlushAsync();
        Assert.Equal(2, outbox.Writes);
        Assert.Empty(outbox.StoredSequences);
    });

    private static EventOutboxOptions Embedded() => new()
    {
        AwaitAcknowledgements = true,
        Consumers = EventConsumers.EventLog | EventConsumers.Webhooks,
    };

    private sealed class OutboxHarness : IDisposable
    {
        private readonly ServiceProvider _services;
        private readonly MeterListener _listener = new();
        private int _events;

        public OutboxHarness(EventOutboxOptions options, RepositoryState? stored = null)
        {
            State = stored is null ? new RepositoryState() : Copy(stored);
            Stored = Copy(State);
            _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
            var meters = _services.GetRequiredService<IMeterFactory>();
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, meters) && instrument.Name == "registry.events.outbox_dropped")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Dropped += value);
            _listener.Start();
            Commit = new GroupCommit(() => Outbox!.TrackWriteAsync(WriteAsync));
            Outbox = new EventOutbox("team/app", () => State, Commit.CommitAsync, PublishAsync, StartTimer, options, new EventOutboxMetrics(new RegistryMeter(meters)), Time, NullLogger.Instance);
        }

        public RepositoryState State { get; }

        /// <summary>The state as the last write stored it.</summary>
        public RepositoryState Stored { get; private set; }

        public IReadOnlyList<long> StoredSequences => Stored.Outbox.Select(e => e.Sequence).ToList();

        public int Writes { get; private set; }

        public GroupCommit Commit { get; }

        public EventOutbox Outbox { get; }

        public ManualTime Time { get; } = new();

        public List<IReadOnlyList<RegistryEvent>> Published { get; } = [];

        public List<string[]> PublishedIds => Published.Select(b => b.Select(e => e.Id).ToArray()).ToList();

        public int FailPublishes { get; set; }

        public long Dropped { get; private set; }

        public List<(Func<CancellationToken, Task> Callback, TimeSpan Due)> Timers { get; } = [];

        public RegistryEvent Add()
        {
            var @event = new RegistryEvent(
                $"event-{++_events}", Time.GetUtcNow(), RegistryEvent.Push, new EventTarget(null, null, 0, "team/app", null, null, null),
                EventRequest.None, null, EventSourceReplica.None, 0);
            Outbox.Add(@event);
            return @event;
        }

        /// <summary>Runs the timer the outbox started, as the grain timer would when due.</summary>
        public Task FireTimerAsync() => Assert.Single(Timers).Callback(CancellationToken.None);

        public void Dispose()
        {
            _listener.Dispose();
            _services.Dispose();
        }

        private async Task WriteAsync()
        {
            await Task.Yield();
            Writes++;
            Stored = Copy(State);
        }

        private async Task PublishAsync(IReadOnlyList<RegistryEvent> events)
        {
            await Task.Yield();
            if (FailPublishes > 0)
            {
                FailPublishes--;
                throw new InvalidOperationException("the stream is unavailable");
            }

            Published.Add(events);
        }

        private IDisposable StartTimer(Func<CancellationToken, Task> callback, TimeSpan due)
        {
            var timer = (callback, due);
            Timers.Add(timer);
            return new Disposer(() => Timers.Remove(timer));
        }

        private static RepositoryState Copy(RepositoryState state) => new() { Outbox = [.. state.Outbox], EventSequence = state.EventSequence };
    }

    private sealed class Disposer(Action dispose) : IDisposable
    {
        public void Dispose() => dispose();
    }

    /// <summary>A clock the test moves.</summary>
    public sealed class ManualTime : TimeProvider
    {
        private DateTimeOffset _now = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
