using System.Security.Cryptography;
using Registry.Api.Events;
using Registry.Grains;

namespace Registry.Api.Images;

/// <summary>
/// The registry's recent image events as this process received them from the registry-wide stream
/// (<see cref="RegistryStreams.All"/>, through the in-process dispatcher), numbered, the last
/// <see cref="Capacity"/> kept in memory: what watches across namespaces and of images read.
/// A position is this process's epoch (random, new at every start) in the high bits and the event's
/// number below, so a position from another replica or an earlier run is never mistaken for one of
/// this feed: it is not held (410, list again), like one more than <see cref="Capacity"/> events behind.
/// </summary>
public sealed class ImageEventFeed : IRegistryEventSubscriber
{
    /// <summary>How many events are kept: a watcher further behind than this gets 410 Expired.</summary>
    public const int Capacity = 4096;

    private const int NumberBits = 40;
    private const long NumberMask = (1L << NumberBits) - 1;

    private readonly LoggedEvent[] _ring = new LoggedEvent[Capacity];
    private readonly Lock _lock = new();
    private readonly long _epoch = (long)RandomNumberGenerator.GetInt32(1, 1 << 22) << NumberBits;
    private long _last;
    private TaskCompletionSource _appended = NewSignal();

    /// <summary>The position of the last event received (the epoch alone before the first).</summary>
    public long Position
    {
        get
        {
            lock (_lock)
            {
                return _epoch | _last;
            }
        }
    }

    public Task OnEventAsync(RegistryEvent e, CancellationToken ct)
    {
        // Refusals are no image change; the access audit has them.
        if (e.IsRefusal)
        {
            return Task.CompletedTask;
        }

        TaskCompletionSource signal;
        lock (_lock)
        {
            _last++;
            _ring[_last % Capacity] = new LoggedEvent(_epoch | _last, e);
            signal = _appended;
            _appended = NewSignal();
        }

        signal.TrySetResult();
        return Task.CompletedTask;
    }

    /// <summary>Whether the events after <paramref name="position"/> are all still held (so a watch may resume there).</summary>
    public bool Holds(long position)
    {
        lock (_lock)
        {
            return HoldsLocked(position);
        }
    }

    private bool HoldsLocked(long position)
    {
        var number = position & NumberMask;
        return (position & ~NumberMask) == _epoch && number <= _last && number >= _last - Capacity;
    }

    /// <summary>Up to <paramref name="max"/> events after <paramref name="position"/>, oldest first; null when they are no longer all held.</summary>
    public IReadOnlyList<LoggedEvent>? ReadAfter(long position, int max)
    {
        lock (_lock)
        {
            if (!HoldsLocked(position))
            {
                return null;
            }

            var events = new List<LoggedEvent>();
            for (var n = (position & NumberMask) + 1; n <= _last && events.Count < max; n++)
            {
                events.Add(_ring[n % Capacity]);
            }

            return events;
        }
    }

    /// <summary>Completes when an event after <paramref name="position"/> has arrived, or after <paramref name="timeout"/>.</summary>
    public async Task WaitAfterAsync(long position, TimeSpan timeout, CancellationToken ct)
    {
        Task signal;
        lock (_lock)
        {
            if ((_epoch | _last) > position)
            {
                return;
            }

            signal = _appended.Task;
        }

        try
        {
            await signal.WaitAsync(timeout, ct);
        }
        catch (TimeoutException)
        {
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
