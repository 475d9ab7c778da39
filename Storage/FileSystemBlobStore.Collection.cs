using System.Globalization;
using System.IO.Enumeration;
using System.Runtime.CompilerServices;

namespace Registry.Storage;

/// <remarks>
/// What garbage collection needs: a listing with versions, a touch and a conditional delete. The
/// version is the file's modification time; touch and conditional delete of one digest hold the
/// same lock, so they are atomic against each other (one process owns a data directory).
/// </remarks>
public sealed partial class FileSystemBlobStore
{
    private readonly object[] _digestLocks = Enumerable.Range(0, 64).Select(_ => new object()).ToArray();

    public async IAsyncEnumerable<ListedBlob> ListBlobsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // One stat per file, taken by the enumeration itself, and no path strings built: a
        // collection lists every blob, and this is most of its own work (docs/garbage-collection.md).
        var blobs = StorageLayout.Under(_root, StorageLayout.BlobsDirectory);
        var listing = new FileSystemEnumerable<ListedBlob?>(blobs, (ref FileSystemEntry entry) => ListedBlobOf(ref entry), ListingOptions)
        {
            ShouldIncludePredicate = (ref FileSystemEntry entry) => !entry.IsDirectory,
        };
        foreach (var blob in listing)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (blob is not null)
            {
                yield return blob;
            }
        }

        await Task.CompletedTask;
    }

    /// <summary>As <see cref="Directory.EnumerateFiles(string, string, SearchOption)"/> lists: every file, none skipped, errors thrown.</summary>
    private static readonly EnumerationOptions ListingOptions = new() { RecurseSubdirectories = true, IgnoreInaccessible = false, AttributesToSkip = 0 };

    /// <summary>The blob a file under <c>blobs/</c> holds (<c>{algorithm}/{fan-out}/{hex}</c> below it); null for any other file or one deleted while listing.</summary>
    private static ListedBlob? ListedBlobOf(ref FileSystemEntry entry)
    {
        // Directory is "<blobs>/{algorithm}/{fan-out}" for a blob; the root's length marks where the relative part starts.
        var relative = entry.Directory[entry.RootDirectory.Length..].TrimStart(Path.DirectorySeparatorChar);
        var slash = relative.IndexOf(Path.DirectorySeparatorChar);
        if (slash < 0 || StorageLayout.DigestOfBlobFile(relative[..slash], relative[(slash + 1)..], entry.FileName) is not { } digest)
        {
            return null;
        }

        // A file deleted since the directory was read has no status: its time reads as the file-time epoch.
        var modified = entry.LastWriteTimeUtc;
        if (modified.UtcTicks == DeletedWhileListed)
        {
            return null;
        }

        return new ListedBlob(digest, entry.Length, modified, modified.UtcDateTime.Ticks.ToString(CultureInfo.InvariantCulture));
    }

    private static readonly long DeletedWhileListed = DateTimeOffset.FromFileTime(0).UtcTicks;

    public Task<bool> TouchAsync(string digest, CancellationToken cancellationToken)
    {
        var path = BlobPath(digest);
        lock (LockOf(digest))
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                return Task.FromResult(false);
            }

            // Strictly later than before, so the version changes even within the clock's resolution.
            var now = DateTime.UtcNow;
            var previous = info.LastWriteTimeUtc;
            File.SetLastWriteTimeUtc(path, now > previous ? now : previous.AddTicks(1));
            return Task.FromResult(true);
        }
    }

    public Task<bool> DeleteIfUnchangedAsync(string digest, string version, CancellationToken cancellationToken)
    {
        var path = BlobPath(digest);
        lock (LockOf(digest))
        {
            var info = new FileInfo(path);
            if (!info.Exists || info.LastWriteTimeUtc.Ticks.ToString(CultureInfo.InvariantCulture) != version)
            {
                return Task.FromResult(false);
            }

            File.Delete(path);
            return Task.FromResult(true);
        }
    }

    private object LockOf(string digest) => _digestLocks[(uint)StringComparer.Ordinal.GetHashCode(digest) % (uint)_digestLocks.Length];
}
