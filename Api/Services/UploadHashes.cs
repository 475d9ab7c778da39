using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Registry.Silo;

namespace Registry.Api.Services;

/// <summary>
/// The running SHA-256 of each upload this process wrote the last chunk of. The hash state cannot
/// leave the process, so a chunk that finds no entry at its offset (another process wrote the
/// previous chunk, or this one restarted) rebuilds the hash from the staged bytes instead.
/// </summary>
/// <remarks>
/// Entries of uploads idle past the upload expiry are dropped as new ones arrive (at most once a
/// minute): the sweep that expires sessions may run in another process, so this one cleans its own.
/// </remarks>
public sealed class UploadHashes(TimeProvider time, IOptions<RegistryOptions> options)
{
    private static readonly TimeSpan CleanupInterval = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private long _nextCleanup;

    /// <summary>Takes the hash of an upload if it covers exactly <paramref name="offset"/> bytes.</summary>
    public IncrementalHash? Take(string uploadId, long offset)
    {
        CleanIfDue(time.GetUtcNow());
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
        var now = time.GetUtcNow();
        CleanIfDue(now);
        var entry = new Entry(offset, hash, now);
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

    /// <summary>At most once a minute, drops the hashes of uploads untouched for longer than the upload expiry.</summary>
    private void CleanIfDue(DateTimeOffset now)
    {
        var due = Interlocked.Read(ref _nextCleanup);
        if (now.UtcTicks < due || Interlocked.CompareExchange(ref _nextCleanup, (now + CleanupInterval).UtcTicks, due) != due)
        {
            return;
        }

        var cutoff = now - options.Value.Uploads.Expiry;
        foreach (var pair in _entries)
        {
            // Only the entry found old: a chunk may have just put a newer one under the same id.
            if (pair.Value.Touched < cutoff && _entries.TryRemove(pair))
            {
                pair.Value.Hash.Dispose();
            }
        }
    }

    private sealed record Entry(long Offset, IncrementalHash Hash, DateTimeOffset Touched);
}
