using System.Globalization;
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
        var blobs = StorageLayout.Under(_root, StorageLayout.BlobsDirectory);
        foreach (var path in Directory.EnumerateFiles(blobs, "*", SearchOption.AllDirectories))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var relative = Path.GetRelativePath(_root, path).Replace(Path.DirectorySeparatorChar, '/');
            if (StorageLayout.DigestOfBlobPath(relative) is not { } digest)
            {
                continue;
            }

            var info = new FileInfo(path);
            if (!info.Exists)
            {
                continue; // deleted while listing
            }

            var modified = info.LastWriteTimeUtc;
            yield return new ListedBlob(digest, info.Length, new DateTimeOffset(modified, TimeSpan.Zero), modified.Ticks.ToString(CultureInfo.InvariantCulture));
        }

        await Task.CompletedTask;
    }

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
