using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Registry.Api.Services;

/// <summary>
/// The running SHA-256 of each upload this process wrote the last chunk of. The hash state cannot
/// leave the process, so a chunk that finds no entry at its offset (another process wrote the
/// previous chunk, or this one restarted) rebuilds the hash from the staged bytes instead.
/// </summary>
public sealed class UploadHashes(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <summary>Takes the hash of an upload if it covers exactly <paramref name="offset"/> bytes.</summary>
    public IncrementalHash? Take(string uploadId, long offset)
    {
        if (!_entries.TryRemove(uploadId, out var entry))
        {
            return null;
        }

        if (entry.Offset == offset)
        {
            return entry.Hash;
        }

        entry.Hash.Dispose();
        return null;
    }

    public void Put(string uploadId, long offset, IncrementalHash hash)
    {
        var entry = new Entry(offset, hash, time.GetUtcNow());
        _entries.AddOrUpdate(uploadId, entry, (_, old) =>
        {
            old.Hash.Dispose();
            return entry;
        });
    }

    public void Forget(string uploadId)
    {
        if (_entries.TryRemove(uploadId, out var entry))
        {
            entry.Hash.Dispose();
        }
    }

    /// <summary>Drops hashes of uploads untouched since <paramref name="cutoff"/>.</summary>
    public void ForgetOlderThan(DateTimeOffset cutoff)
    {
        foreach (var (id, entry) in _entries)
        {
            if (entry.Touched < cutoff)
            {
                Forget(id);
            }
        }
    }

    public int Count => _entries.Count;

    private sealed record Entry(long Offset, IncrementalHash Hash, DateTimeOffset Touched);
}
