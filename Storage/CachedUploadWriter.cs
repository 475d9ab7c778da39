using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Registry.Storage;

/// <summary>
/// Writes an upload's bytes through the page cache and leaves them there: the pulls that follow
/// a push (a build pushes, then every node that runs it pulls) read the new blob from memory.
/// Paced so that dirty pages never pile up: each finished 8 MiB stride is handed to the disk at
/// once (Linux <c>sync_file_range</c>, <c>SYNC_FILE_RANGE_WRITE</c>), the writer waits when more
/// than two strides are still on their way, and written-back pages stay cached, clean.
/// </summary>
/// <remarks>
/// Durability is the commit's <c>fsync</c>, as for every write mode. This writer makes that
/// <c>fsync</c> cheap and keeps failures with the request that caused them: by the end of a chunk
/// all of its bytes are written back (a writeback error fails that chunk, which is then not
/// counted), and while the network is the slower side the device cache is flushed
/// (<c>fdatasync</c>) in idle moments and, for an earlier chunk's bytes, while the next chunk's
/// first bytes arrive, as <see cref="DirectUploadWriter"/> does. A writeback error is reported by
/// the kernel once per open file, so it must never be ignored here: it would be lost to the
/// commit. Where <c>sync_file_range</c> does not exist (not Linux) the bytes are written plainly
/// and the commit's <c>fsync</c> writes them all back.
/// </remarks>
internal sealed class CachedUploadWriter : WriteOnlyStreamBase
{
    private const long Stride = 8 * 1024 * 1024;

    /// <summary>Strides whose writeback may be outstanding before the writer waits for the oldest.</summary>
    private const int InFlight = 2;

    /// <summary>Written-back bytes that make an idle moment worth a device-cache flush.</summary>
    private const long FlushAfter = 16 * 1024 * 1024;

    private const uint SyncWaitBefore = 1; // SYNC_FILE_RANGE_WAIT_BEFORE
    private const uint SyncWrite = 2; // SYNC_FILE_RANGE_WRITE
    private const uint SyncWaitAfter = 4; // SYNC_FILE_RANGE_WAIT_AFTER

    private static bool s_supported = OperatingSystem.IsLinux();

    private readonly SafeFileHandle _handle;
    private readonly Queue<Task> _writebacks = new();
    private Task _lastWriteback = Task.CompletedTask;
    private Task _earlierChunksFlushed = Task.CompletedTask;
    private long _position;
    private long _started;
    private int _waiting;
    private long _unflushed;
    private bool _disposed;

    private CachedUploadWriter(SafeFileHandle handle, long offset)
    {
        _handle = handle;
        _position = offset;
        _started = offset;
    }

    /// <summary>Opens <paramref name="path"/> (which must exist) for writes from <paramref name="offset"/>, dropping anything stored beyond it.</summary>
    public static CachedUploadWriter Open(string path, long offset)
    {
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Write, FileShare.Read);
        try
        {
            if (RandomAccess.GetLength(handle) != offset)
            {
                RandomAccess.SetLength(handle, offset);
            }

            var writer = new CachedUploadWriter(handle, offset);
            if (offset > 0 && s_supported)
            {
                // Earlier chunks are written back but may sit in the device cache: flush it
                // while this chunk's first bytes arrive.
                writer._earlierChunksFlushed = Task.Run(() => LibC.ThrowIfFailed(LibC.FDataSync(handle), "fdatasync"));
            }

            return writer;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);

        // A copy into the page cache: short, so not worth a hop to another thread.
        RandomAccess.Write(_handle, buffer.Span, _position);
        _position += buffer.Length;
        if (_position - _started < Stride || !s_supported)
        {
            return;
        }

        var (offset, length) = (_started, _position - _started);
        _started = _position;
        if (!SyncRange(offset, length, SyncWrite))
        {
            return;
        }

        Interlocked.Increment(ref _waiting);
        _lastWriteback = WaitForWritebackAsync(_lastWriteback, offset, length, flushWhenIdle: true);
        _writebacks.Enqueue(_lastWriteback);
        while (_writebacks.Count > InFlight)
        {
            // The disk is the slower side: wait for it rather than let dirty pages pile up.
            await _writebacks.Dequeue();
        }
    }

    public override void Write(byte[] buffer, int offset, int count)
        => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Flush()
    {
        // Each write is in the file (the page cache) when it returns.
    }

    /// <summary>Waits until every byte this writer wrote is written back to the disk, so that a writeback error fails this chunk.</summary>
    public override async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        try
        {
            if (s_supported && _position > _started)
            {
                Interlocked.Increment(ref _waiting);

                // No device-cache flush now: an ext4 rename over an existing file, as the
                // upload-session state write does right then, would wait behind it.
                _lastWriteback = WaitForWritebackAsync(_lastWriteback, _started, _position - _started, flushWhenIdle: false);
                _started = _position;
            }

            await _lastWriteback;
        }
        finally
        {
            try
            {
                await _earlierChunksFlushed;
            }
            finally
            {
                _handle.Dispose();
            }
        }

        GC.SuppressFinalize(this);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        base.Dispose(disposing);
    }

    private async Task WaitForWritebackAsync(Task previous, long offset, long length, bool flushWhenIdle)
    {
        // On a pool thread, never the network reader's: the calls below block until the disk is done.
        await previous.ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
        Interlocked.Decrement(ref _waiting);
        if (!SyncRange(offset, length, SyncWaitBefore | SyncWrite | SyncWaitAfter))
        {
            return;
        }

        _unflushed += length;
        if (!flushWhenIdle || _unflushed < FlushAfter || Volatile.Read(ref _waiting) > 0)
        {
            return;
        }

        LibC.ThrowIfFailed(LibC.FDataSync(_handle), "fdatasync");
        _unflushed = 0;
    }

    /// <summary>
    /// <c>sync_file_range</c> over the range; false (and never again) where the call does not exist
    /// or this filesystem refuses it. Any other failure, such as a writeback error, throws.
    /// </summary>
    private bool SyncRange(long offset, long length, uint flags)
    {
        int result;
        try
        {
            result = LibC.SyncFileRange(_handle, offset, length, flags);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            s_supported = false;
            return false;
        }

        if (result == 0)
        {
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        if (errno is 22 or 29 or 38 or 95)
        {
            // EINVAL, ESPIPE, ENOSYS, EOPNOTSUPP: not a failure of the write; the commit's fsync covers it.
            s_supported = false;
            return false;
        }

        LibC.ThrowIfFailed(result, "sync_file_range");
        return false;
    }
}
