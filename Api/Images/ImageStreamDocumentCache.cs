using Registry.Grains;

namespace Registry.Api.Images;

/// <summary>
/// The JSON of large image streams as a GET answers them, kept per repository and host names for
/// the version of the stream it was written from, so repeated GETs of a stream with a long tag
/// history do not build and serialize thousands of history items each time (bench/imageapi.sh: a
/// stream of 100 tags × 100 items is 2.45 MiB). A stream's version is its repository's change
/// sequence (its resourceVersion) with its generation, creation and the count of its tags and
/// items: any change of the stream moves one of them, so a stale document is never served.
/// </summary>
public sealed class ImageStreamDocumentCache
{
    /// <summary>Smaller documents are cheap to write again and are not kept.</summary>
    public const int MinBytes = 64 * 1024;

    /// <summary>The most kept at once; the least recently used go first.</summary>
    public const long MaxTotalBytes = 32L << 20;

    private readonly Lock _lock = new();
    private readonly Dictionary<(string Repository, RegistryHosts Hosts), Entry> _entries = [];
    private long _totalBytes;
    private long _clock;

    private readonly record struct Version(long Sequence, long Generation, DateTimeOffset Created, int Tags, int Items);

    private sealed class Entry(Version version, byte[] document)
    {
        public Version Version { get; } = version;

        public byte[] Document { get; } = document;

        public long LastUsed { get; set; }
    }

    /// <summary>The number of documents kept (for tests).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>The document of <paramref name="view"/>: the one kept when it was written from the same version, else <paramref name="write"/>'s (kept when large).</summary>
    public byte[] GetOrWrite(string repository, ImageStreamView view, RegistryHosts hosts, Func<byte[]> write)
    {
        var version = new Version(view.Sequence, view.Generation, view.Created, view.Tags.Count, view.Tags.Sum(t => t.History.Count));
        var key = (repository, hosts);
        lock (_lock)
        {
            if (_entries.TryGetValue(key, out var kept) && kept.Version == version)
            {
                kept.LastUsed = ++_clock;
                return kept.Document;
            }
        }

        var document = write();
        if (document.Length < MinBytes || document.Length > MaxTotalBytes / 4)
        {
            return document;
        }

        lock (_lock)
        {
            if (_entries.Remove(key, out var old))
            {
                _totalBytes -= old.Document.Length;
            }

            _entries[key] = new Entry(version, document) { LastUsed = ++_clock };
            _totalBytes += document.Length;
            while (_totalBytes > MaxTotalBytes)
            {
                var oldest = _entries.MinBy(e => e.Value.LastUsed);
                _entries.Remove(oldest.Key);
                _totalBytes -= oldest.Value.Document.Length;
            }
        }

        return document;
    }
}
