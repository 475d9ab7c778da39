namespace Registry.Grains;

/// <summary>
/// What a namespace holds, in memory: digest → its size and the repositories that hold it, and
/// how many digests each repository holds. A digest's bytes count once, whoever holds it; a
/// repository counts while it holds anything. Set-based, so every change is idempotent.
/// </summary>
public sealed class UsageLedger
{
    private readonly Dictionary<string, Entry> _digests = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _repositories = new(StringComparer.Ordinal);

    public long Bytes { get; private set; }

    public int Repositories => _repositories.Count;

    public NamespaceUsage Usage => new(Bytes, _repositories.Count, _digests.Count);

    public bool Holds(string repository, string digest) => _digests.TryGetValue(digest, out var entry) && entry.Holders.Contains(repository);

    public bool HoldsAnything(string repository) => _repositories.ContainsKey(repository);

    /// <summary>The bytes the namespace would grow by if someone held <paramref name="digest"/>: 0 when it is held already.</summary>
    public long Growth(string digest, long size) => _digests.ContainsKey(digest) ? 0 : size;

    public void Add(string repository, string digest, long size)
    {
        if (!_digests.TryGetValue(digest, out var entry))
        {
            _digests[digest] = entry = new Entry(size);
            Bytes += size;
        }

        if (entry.Holders.Add(repository))
        {
            _repositories[repository] = _repositories.GetValueOrDefault(repository) + 1;
        }
    }

    public void Remove(string repository, string digest)
    {
        if (!_digests.TryGetValue(digest, out var entry) || !entry.Holders.Remove(repository))
        {
            return;
        }

        if (entry.Holders.Count == 0)
        {
            _digests.Remove(digest);
            Bytes -= entry.Size;
        }

        var left = _repositories[repository] - 1;
        if (left == 0)
        {
            _repositories.Remove(repository);
        }
        else
        {
            _repositories[repository] = left;
        }
    }

    /// <summary>Removes everything <paramref name="repository"/> holds (a scan of the namespace's digests: for rare, whole-repository deletes).</summary>
    public void RemoveRepository(string repository)
    {
        if (!_repositories.ContainsKey(repository))
        {
            return;
        }

        foreach (var digest in _digests.Where(d => d.Value.Holders.Contains(repository)).Select(d => d.Key).ToList())
        {
            Remove(repository, digest);
        }
    }

    private sealed class Entry(long size)
    {
        public long Size { get; } = size;

        public HashSet<string> Holders { get; } = new(StringComparer.Ordinal);
    }
}
