namespace Registry.Api.Services;

/// <summary>
/// The one global bound on read buffering: the bytes that blob GETs may hold unsent at once. A
/// response's window of storage bytes sits in Kestrel's pipe blocks until the client takes it,
/// so a slow client holds its window for as long as it is slow. Neither driver buffers reads
/// itself (both read straight into the pipe's blocks), so this budget is all the read memory
/// there is beyond Kestrel's own 64 KiB per connection.
/// </summary>
/// <remarks>
/// Each window is leased before it is filled and given back once the client has taken it. A
/// response gets a 4 MiB window while leased windows hold less than half the budget (few sends,
/// few wake-ups for a fast client), else a 256 KiB one while the budget lasts, else a single
/// 64 KiB block, outside the budget: the floor a response needs at all, like Kestrel's own
/// response buffer. So a read never fails or waits for the budget, and memory beyond it grows
/// by one block per concurrent response at most. Thread-safe.
/// </remarks>
public sealed class ReadWindowBudget
{
    public const int LargeWindow = 4 * 1024 * 1024;
    public const int SmallWindow = 256 * 1024;
    public const int FloorWindow = LargeBlockMemoryPool.BlockSize;

    private long _inUse;
    private long _peak;
    private long _denied;

    public ReadWindowBudget(long capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, SmallWindow);
        Capacity = capacity;
    }

    /// <summary>The most bytes that leased windows hold at once.</summary>
    public long Capacity { get; }

    /// <summary>Bytes of windows leased now.</summary>
    public long InUse => Volatile.Read(ref _inUse);

    /// <summary>The most bytes leased at once since start (what a test of the bound reads).</summary>
    public long Peak => Volatile.Read(ref _peak);

    /// <summary>Windows that got the 64 KiB floor because the budget was spent (a response with more to send).</summary>
    public long Denied => Volatile.Read(ref _denied);

    /// <summary>Leases a window for sending <paramref name="remaining"/> more bytes; give it back with <see cref="Return"/>.</summary>
    public Window Lease(long remaining)
    {
        if (remaining > SmallWindow && TryTake(LargeWindow, Capacity / 2))
        {
            return new Window(LargeWindow, true);
        }

        if (remaining > FloorWindow && TryTake(SmallWindow, Capacity))
        {
            return new Window(SmallWindow, true);
        }

        if (remaining > FloorWindow)
        {
            Interlocked.Increment(ref _denied);
        }

        return new Window(FloorWindow, false);
    }

    public void Return(Window window)
    {
        if (window.Budgeted)
        {
            Interlocked.Add(ref _inUse, -window.Size);
        }
    }

    private bool TryTake(int size, long limit)
    {
        var current = Volatile.Read(ref _inUse);
        while (current + size <= limit)
        {
            var seen = Interlocked.CompareExchange(ref _inUse, current + size, current);
            if (seen == current)
            {
                var taken = current + size;
                var peak = Volatile.Read(ref _peak);
                while (taken > peak && Interlocked.CompareExchange(ref _peak, taken, peak) is var p && p != peak)
                {
                    peak = p;
                }

                return true;
            }

            current = seen;
        }

        return false;
    }

    /// <summary>A leased window: <see cref="Size"/> bytes to fill before flushing; floor windows are not counted.</summary>
    public readonly record struct Window(int Size, bool Budgeted);
}
