using System.Collections;

namespace Registry.Grains;

/// <summary>
/// The last <see cref="Capacity"/> distinct ids seen, for dropping redelivered events (delivery
/// is at least once); enumerates them oldest first, so an owner can store and reload the window.
/// Not thread-safe: one consumer owns it.
/// </summary>
public sealed class RecentIds(int capacity) : IReadOnlyCollection<string>
{
    private readonly HashSet<string> _set = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();

    public int Capacity { get; } = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity));

    public int Count => _set.Count;

    public bool Contains(string id) => _set.Contains(id);

    /// <summary>Records <paramref name="id"/>; false when it was seen already (a duplicate).</summary>
    public bool Add(string id)
    {
        if (!_set.Add(id))
        {
            return false;
        }

        _order.Enqueue(id);
        while (_order.Count > Capacity)
        {
            _set.Remove(_order.Dequeue());
        }

        return true;
    }

    public Queue<string>.Enumerator GetEnumerator() => _order.GetEnumerator();

    IEnumerator<string> IEnumerable<string>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
