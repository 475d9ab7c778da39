namespace Registry.Storage;

/// <summary>
/// Reusable buffers kept for the next taker, at most <c>capacity</c> of them; beyond that a
/// returned one is left to the GC. The most recently returned is handed out first: it is likely
/// still in the CPU cache, so whatever fills it next (the kernel, mostly) writes at cache speed.
/// Thread-safe.
/// </summary>
public sealed class BoundedFreeList<T>(int capacity) where T : class
{
    private readonly T?[] _items = new T?[capacity];
    private readonly Lock _lock = new();
    private int _count;

    /// <summary>The most recently returned item, or null when none is kept.</summary>
    public T? TryTake()
    {
        lock (_lock)
        {
            if (_count == 0)
            {
                return null;
            }

            var item = _items[--_count];
            _items[_count] = null;
            return item;
        }
    }

    /// <summary>Keeps <paramref name="item"/> for reuse, unless <c>capacity</c> items are kept already.</summary>
    public void Return(T item)
    {
        lock (_lock)
        {
            if (_count < _items.Length)
            {
                _items[_count++] = item;
            }
        }
    }

    public void Clear()
    {
        lock (_lock)
        {
            Array.Clear(_items);
            _count = 0;
        }
    }
}
