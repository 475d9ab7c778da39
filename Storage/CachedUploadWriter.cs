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
/// <para>
/// The copy into the page cache runs on the thread pool, 2 MiB at a time in order, while the next
/// buffer fills from the network (up to four buffers per upload, for at most four uploads at
/// once: 32 MiB in all); done inline, it held up the network side and pushes were about 40 %
/// slower than with direct I/O (bench/neutral.sh). Beyond four uploads, each write is copied
/// straight from the caller's buffer before it returns.
/// </para>
/// <para>
/// Durability is the commit's <c>fsync</c>, as for every write mode. This writer makes that
/// <c>fsync</c> cheap and keeps failures with the request that caused them: by the end of a chunk
/// all of its bytes are written back (a writeback error fails that chunk, which is then not
/// counted), and while the network is the slower side the device cache is flushed
/// (<c>fdatasync</c>) in idle moments and, for an earlier chunk's bytes, while the next chunk's
/// first bytes arrive, as <see cref="DirectUploadWriter"/> does. A writeback error is reported by
/// the kernel once per open file, so it must never be ignored here: it would be lost to the
/// commit. Where <c>sync_file_range</c> does not exist (not Linux) the bytes are written plainly
/// and the commit's <c>fsync</c> writes them all back.
/// </para>
/// </remarks>
internal sealed class CachedUploadWriter : WriteOnlyStreamBase
{
    private const long Stride = 8 * 1024 * 1024;

    /// <summary>Strides whose writeback may be outstanding before the writer waits for the oldest.</summary>
    private const int InFlight = 2;

    /// <summary>Written-back bytes that make an idle moment worth a device-cache flush.</summary>
    private const long FlushAfter = 16 * 1024 * 1024;

    private const int BufferSize = 2 * 1024 * 1024;
    private const int PipelineDepth = 4;
    private const int MaxPipelined = 4;

    private const uint SyncWaitBefore = 1; // SYNC_FILE_RANGE_WAIT_BEFORE
    private const uint SyncWrite = 2; // SYNC_FILE_RANGE_WRITE
    private const uint SyncWaitAfter = 4; // SYNC_FILE_RANGE_WAIT_AFTER

    private static readonly BoundedFreeList<byte[]> s_pool = new(PipelineDepth * MaxPipelined);
    private static readonly SemaphoreSlim s_pipelined = new(MaxPipelined);
    private static bool s_supported = OperatingSystem.IsLinux();

    private readonly SafeFileHandle _handle;
    private readonly bool _pipelined;
    private readonly Queue<(Task Written, byte[] Buffer)> _pending = new();
    private readonly Queue<Task> _writebacks = new();
    private byte[]? _current;
    private int _filled;
    private int _limit;
    private long _position;
    private Task _lastWrite = Task.CompletedTask;
    private Task _lastWriteback = Task.CompletedTask;
    private Task _earlierChunksFlushed = Task.CompletedTask;

    // Touched only by the chain of writes (one at a time, in order).
    private long _started;
    private int _waiting;
    private long _unflushed;
    private bool _disposed;

    private CachedUploadWriter(SafeFileHandle handle, long offset, bool pipelined)
    {
        _handle = handle;
        _position = offset;
        _started = offset;
        _pipelined = pipelined;

        // Buffers end on multiples of their size in the file, so a write of whole buffers is whole pages.
        _limit = BufferSize - (int)(offset % BufferSize);
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

            var writer = new CachedUploadWriter(handle, offset, s_pipelined.Wait(0));
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
        if (!_pipelined)
        {
            _lastWrite = WriteAfterAsync(_lastWrite, buffer, _position, last: false);
            _position += buffer.Length;
            await _lastWrite;
            return;
        }

        while (buffer.Length > 0)
        {
            _current ??= s_pool.TryTake() ?? GC.AllocateUninitializedArray<byte>(BufferSize);
            var take = Math.Min(buffer.Length, _limit - _filled);
            buffer.Span[..take].CopyTo(_current.AsSpan(_filled));
            _filled += take;
            buffer = buffer[take..];
            if (_filled == _limit)
            {
                await HandOverAsync();
            }
        }
    }

    public override void Write(byte[] buffer, int offset, int count)
        => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Flush()
    {
        // Bytes reach the file by dispose, which waits for them.
    }

    /// <summary>Waits until every byte this writer wrote is in the file and written back to the disk, so that a writeback error fails this chunk.</summary>
    public override async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        try
        {
            if (_filled > 0)
            {
                _lastWrite = WriteAfterAsync(_lastWrite, _current.AsMemory(0, _filled), _position, last: true);
                _position += _filled;
                _filled = 0;
            }
            else
            {
                _lastWrite = WriteAfterAsync(_lastWrite, ReadOnlyMemory<byte>.Empty, _position, last: true);
            }

            await _lastWrite;
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
                Release();
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

    /// <summary>Hands the full buffer to the chain of writes and takes the next one, waiting for the oldest when all are in use.</summary>
    private async Task HandOverAsync()
    {
        _lastWrite = WriteAfterAsync(_lastWrite, _current.AsMemory(0, _filled), _position, last: false);
        _pending.Enqueue((_lastWrite, _current!));
        _position += _filled;
        _filled = 0;
        _limit = BufferSize;
        _current = null;
        if (_pending.Count >= PipelineDepth)
        {
            var (written, oldest) = _pending.Dequeue();
            await written;
            _current = oldest;
        }
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> after the writes before it, then hands each finished stride
    /// to the disk; the last write of a chunk also has its tail written back.
    /// </summary>
    private async Task WriteAfterAsync(Task previous, ReadOnlyMemory<byte> bytes, long offset, bool last)
    {
        // On a pool thread, never the network reader's (unless it waits for this anyway).
        await previous.ConfigureAwait(_pipelined ? ConfigureAwaitOptions.ForceYielding : ConfigureAwaitOptions.None);
        if (bytes.Length > 0)
        {
            RandomAccess.Write(_handle, bytes.Span, offset);
        }

        var end = offset + bytes.Length;
        if (!s_supported || (end - _started < Stride && !(last && end > _started)))
        {
            return;
        }

        var (start, length) = (_started, end - _started);
        _started = end;
        if (last)
        {
            // No device-cache flush now: an ext4 rename over an existing file, as the
            // upload-session state write does right then, would wait behind it.
            Interlocked.Increment(ref _waiting);
            _lastWriteback = WaitForWritebackAsync(_lastWriteback, start, length, flushWhenIdle: false);
            return;
        }

        if (!SyncRange(start, length, SyncWrite))
        {
            return;
        }

        Interlocked.Increment(ref _waiting);
        _lastWriteback = WaitForWritebackAsync(_lastWriteback, start, length, flushWhenIdle: true);
        _writebacks.Enqueue(_lastWriteback);
        while (_writebacks.Count > InFlight)
        {
            // The disk is the slower side: wait for it rather than let dirty pages pile up.
            await _writebacks.Dequeue();
        }
    }

    private async Task WaitForWritebackAsync(Task previous, long offset, long length, bool flushWhenIdle)
    {
        // On a pool thread: the calls below block until the disk is done.
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

    private void Release()
    {
        _handle.Dispose();
        if (!_pipelined)
        {
            return;
        }

        s_pipelined.Release();
        if (_current is not null)
        {
            s_pool.Return(_current);
        }

        while (_pending.TryDequeue(out var pending))
        {
            if (pending.Written.IsCompleted)
            {
                s_pool.Return(pending.Buffer);
            }
        }
    }
}
