using System.Globalization;
using System.Runtime.CompilerServices;

namespace Registry.Storage;

/// <summary>
/// Blobs and uploads under one directory, laid out as <see cref="StorageLayout"/> says
/// (<c>blobs/{algorithm}/{first two hex}/{hex}</c>, <c>uploads/{id}/</c>). Every blob becomes visible by an atomic rename of a file
/// that was flushed to disk first, so a crash never leaves a partial blob visible.
/// </summary>
public sealed partial class FileSystemBlobStore : IBlobStore
{
    private readonly string _root;
    private readonly string _uploads;
    private readonly string _temp;
    private readonly UploadWriteMode _writeMode;

    /// <param name="root">The data directory.</param>
    /// <param name="writeMode">How uploads reach the disk: around the page cache (then handed to it after commit) or through it.</param>
    /// <param name="handOff">
    /// With <see cref="UploadWriteMode.Direct"/>, which committed blobs are read into the page cache
    /// for the pulls that follow; <see cref="PageCacheHandOff.Default"/> when null.
    /// </param>
    public FileSystemBlobStore(string root, UploadWriteMode writeMode = UploadWriteMode.Direct, PageCacheHandOff? handOff = null)
    {
        _root = root;
        _writeMode = writeMode;
        handOff ??= PageCacheHandOff.Default;
        if (writeMode == UploadWriteMode.Direct && handOff.Enabled)
        {
            Warmer = new PageCacheWarmer(handOff);
        }

        _uploads = StorageLayout.Under(root, StorageLayout.UploadsDirectory);
        _temp = StorageLayout.Under(root, StorageLayout.TempDirectory);
        DurableFiles.CreateDirectory(StorageLayout.Under(root, StorageLayout.BlobsDirectory));
        DurableFiles.CreateDirectory(_uploads);
        DurableFiles.CreateDirectory(_temp);
    }

    /// <summary>What reads blobs committed in Direct mode into the page cache; null when nothing does.</summary>
    public PageCacheWarmer? Warmer { get; }

    public Task<long?> GetSizeAsync(string digest, CancellationToken cancellationToken)
    {
        var info = new FileInfo(BlobPath(digest));
        return Task.FromResult(info.Exists ? info.Length : (long?)null);
    }

    public Task<Stream?> OpenReadAsync(string digest, long offset, CancellationToken cancellationToken)
    {
        try
        {
            return Task.FromResult<Stream?>(BlobFileReader.Open(BlobPath(digest), offset));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Task.FromResult<Stream?>(null);
        }
    }

    public async Task PutAsync(string digest, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var target = BlobPath(digest);
        if (File.Exists(target))
        {
            return;
        }

        var temp = Path.Combine(_temp, Guid.NewGuid().ToString("N"));
        try
        {
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0, FileOptions.Asynchronous))
            {
                await file.WriteAsync(content, cancellationToken);
                DurableFiles.Flush(file.SafeFileHandle);
            }

            Publish(temp, target);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    public Task<bool> DeleteAsync(string digest, CancellationToken cancellationToken)
    {
        var path = BlobPath(digest);
        if (!File.Exists(path))
        {
            return Task.FromResult(false);
        }

        File.Delete(path);
        return Task.FromResult(true);
    }

    public async Task CreateUploadAsync(string uploadId, DateTimeOffset startedAt, CancellationToken cancellationToken)
    {
        try
        {
            Directory.CreateDirectory(UploadDir(uploadId));
            await using (new FileStream(UploadData(uploadId), FileMode.OpenOrCreate, FileAccess.Write))
            {
            }

            // Written aside and renamed, so the expiry sweep never reads a half-written start time.
            var startedAtPath = StorageLayout.Under(_root, StorageLayout.UploadStartedAtPath(uploadId));
            var temp = startedAtPath + ".tmp";
            await File.WriteAllTextAsync(temp, startedAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture), cancellationToken);
            File.Move(temp, startedAtPath, overwrite: true);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            // A sweep that listed the area before its start time was written removed it.
            throw new UploadUnknownException(uploadId, e);
        }
    }

    public Task<Stream> OpenUploadWriterAsync(string uploadId, long offset, CancellationToken cancellationToken)
    {
        var path = UploadData(uploadId);
        try
        {
            var readBehind = Warmer is { } warmer ? (written, length) => warmer.ReadBehind(path, written, length) : (Action<long, long>?)null;
            if (_writeMode == UploadWriteMode.Direct && DirectUploadWriter.TryOpen(path, offset, readBehind) is { } direct)
            {
                return Task.FromResult<Stream>(direct);
            }

            return Task.FromResult<Stream>(CachedUploadWriter.Open(path, offset));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new UploadUnknownException(uploadId, e);
        }
    }

    public Task<Stream> OpenUploadReaderAsync(string uploadId, long length, CancellationToken cancellationToken)
    {
        try
        {
            var file = new FileStream(UploadData(uploadId), FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 0, FileOptions.Asynchronous | FileOptions.SequentialScan);
            return Task.FromResult<Stream>(new BoundedReadStream(file, length));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new UploadUnknownException(uploadId, e);
        }
    }

    public async Task CommitUploadAsync(string uploadId, long length, string digest, CancellationToken cancellationToken)
    {
        var dir = UploadDir(uploadId);
        var data = UploadData(uploadId);
        var target = BlobPath(digest);
        Task? handedOff = null;

        // What was read behind the writer is read by the staging path, so it completes before the rename.
        var (readBehind, reading) = Warmer?.TakeReadBehind(data) ?? (0, Task.CompletedTask);
        await reading;
        if (!File.Exists(target))
        {
            FileStream staged;
            try
            {
                staged = new FileStream(data, FileMode.Open, FileAccess.Write, FileShare.Read);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                throw new UploadUnknownException(uploadId, e);
            }

            using (var file = staged)
            {
                if (file.Length != length)
                {
                    file.SetLength(length);
                }

                DurableFiles.Flush(file.SafeFileHandle);
            }

            try
            {
                Publish(data, target);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                // Expired and deleted while being committed.
                throw new UploadUnknownException(uploadId, e);
            }

            // Written around the page cache: read it in before answering, for the pulls that usually
            // follow a push at once (a GET racing a background read found half of it on the disk).
            handedOff = Warmer?.Queue(target, length, readBehind);
        }

        // The blob is verified and durable: an expiry that removes the staging area meanwhile
        // changes nothing about that.
        DeleteDirectoryIfPresent(dir);
        await (handedOff ?? Task.CompletedTask);
    }

    public Task DeleteUploadAsync(string uploadId, CancellationToken cancellationToken)
    {
        Warmer?.TakeReadBehind(UploadData(uploadId));
        DeleteDirectoryIfPresent(UploadDir(uploadId));
        return Task.CompletedTask;
    }

    public async IAsyncEnumerable<StagedUpload> ListUploadsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var dir in Directory.EnumerateDirectories(_uploads))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var id = Path.GetFileName(dir);
            DateTimeOffset startedAt;
            try
            {
                var text = await File.ReadAllTextAsync(StorageLayout.Under(_root, StorageLayout.UploadStartedAtPath(id)), cancellationToken);
                startedAt = DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(text, CultureInfo.InvariantCulture));
            }
            catch (Exception e) when (e is IOException or FormatException)
            {
                // Not written yet (the upload is being created) or lost: the directory's own time
                // stands in. Gone (finished or cancelled while being listed): nothing to expire.
                var created = Directory.GetCreationTimeUtc(dir);
                if (!Directory.Exists(dir) || created == DateTime.FromFileTimeUtc(0))
                {
                    continue;
                }

                startedAt = created;
            }

            yield return new StagedUpload(id, startedAt, StagedBytesOf(id));
        }
    }

    /// <summary>The bytes an upload staged (its data file); 0 before its first chunk or when it went meanwhile.</summary>
    private long StagedBytesOf(string id)
    {
        try
        {
            var data = new FileInfo(UploadData(id));
            return data.Exists ? data.Length : 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>Reachable when the staging directory exists and a file can be created in it.</summary>
    public async Task<bool> IsReachableAsync(CancellationToken cancellationToken)
    {
        var probe = Path.Combine(_temp, "probe-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using (var file = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous | FileOptions.DeleteOnClose))
            {
                await file.WriteAsync("ok"u8.ToArray(), cancellationToken);
            }

            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return false;
        }
    }

    private static void DeleteDirectoryIfPresent(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
            // Deleted by a commit or an expiry at the same moment.
        }
    }

    /// <summary>
    /// Renames a flushed file into place and flushes the directory, so the blob survives a machine
    /// crash once this returns; losing a race to an identical blob is fine.
    /// </summary>
    private static void Publish(string source, string target)
    {
        DurableFiles.CreateDirectory(Path.GetDirectoryName(target)!);
        try
        {
            File.Move(source, target, overwrite: false);
        }
        catch (IOException) when (File.Exists(target))
        {
            File.Delete(source);
        }

        DurableFiles.FlushDirectoryOf(target);
    }

    private string BlobPath(string digest) => StorageLayout.Under(_root, StorageLayout.BlobPath(digest));

    private string UploadDir(string uploadId) => StorageLayout.Under(_root, StorageLayout.UploadDirectory(uploadId));

    private string UploadData(string uploadId) => StorageLayout.Under(_root, StorageLayout.UploadDataPath(uploadId));
}
