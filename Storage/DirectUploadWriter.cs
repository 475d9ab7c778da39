using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Registry.Storage;

/// <summary>
/// Writes an upload's bytes with Linux direct I/O (<c>O_DIRECT</c>): they go from aligned 4 MiB
/// buffers straight to the device, in order, while the next buffer fills from the network. This
/// skips the page-cache copy and the kernel's writeback, which on a virtual disk are what limits
/// a durable push.
/// </summary>
/// <remarks>
/// Direct I/O needs offsets and lengths in whole 4 KiB blocks. A chunk that starts inside a
/// block first reads that block's existing bytes back; the last, partial block is written padded
/// and the file then cut to its true length. Where direct I/O is unavailable (another OS, a
/// filesystem such as tmpfs), <see cref="TryOpen"/> returns null and the caller writes buffered.
/// <para>
/// A device with a write cache acknowledges a direct write before the bytes are durable; the
/// <c>fsync</c> at commit then has to flush all of them, and the client waits for it (the cost
/// measured is in docs/storage-layout.md). So when a
/// write completes, at least 16 MiB are unflushed and no other buffer waits for the disk (the
/// network is slower than the disk), the writer flushes the device cache in that idle time
/// (<c>fdatasync</c>), leaving commit little to do. When the disk is the slower side, the next
/// buffers are already waiting and the flush waits for an idle moment. A chunk's last few MiB
/// are flushed when the next chunk starts, while its first buffer fills from the network, so a
/// chunked upload does not leave them all to commit. (Not when the chunk ends: an ext4 rename
/// over an existing file, as the upload-session state write does right then, waits behind it.)
/// </para>
/// </remarks>
internal sealed class DirectUploadWriter : WriteOnlyStreamBase
{
    private const int Alignment = 4096;
    private const int BufferSize = 4 * 1024 * 1024;
    private const int ODirect = 0x4000; // x86-64 and arm64 differ: see OpenFlags

    /// <summary>
    /// Buffers per upload: one filling from the network while up to three wait for or are on
    /// their way to the disk, so the network side keeps going while the disk flushes its cache.
    /// </summary>
    private const int PipelineDepth = 4;
    private const int MaxPooledBuffers = PipelineDepth;

    /// <summary>Unflushed bytes that make an idle moment worth a device-cache flush.</summary>
    private const long FlushAfter = 16 * 1024 * 1024;

    /// <summary>
    /// Uploads written directly at once; beyond that they are written buffered, so that many
    /// concurrent pushes cost at most this many times 16 MiB of buffers (32 MiB: with the read
    /// budget, 256 slow pulls and 16 pushes stay under 300 MiB, docs/benchmarks-scaleout.md).
    /// </summary>
    private const int MaxActive = 2;

    private static readonly BoundedFreeList<AlignedBuffer> s_pool = new(MaxPooledBuffers);
    private static readonly SemaphoreSlim s_active = new(MaxActive);
    private static bool s_supported = OperatingSystem.IsLinux();

    private readonly SafeFileHandle _handle;
    private readonly Action<long, long>? _written;
    private readonly Queue<(Task Written, AlignedBuffer Buffer)> _pending = new();
    private AlignedBuffer _current;
    private int _filled;
    private long _bufferStart;
    private Task _lastWrite = Task.CompletedTask;
    private Task _earlierChunksFlushed = Task.CompletedTask;
    private int _waiting;
    private long _unflushed;
    private bool _disposed;

    private DirectUploadWriter(SafeFileHandle handle, long offset, Action<long, long>? written)
    {
        _handle = handle;
        _written = written;
        _current = Rent();
        _bufferStart = offset - (offset % Alignment);
        _filled = (int)(offset - _bufferStart);
    }

    /// <summary>
    /// Opens <paramref name="path"/> (which must exist) for direct writes from <paramref name="offset"/>,
    /// dropping anything stored beyond it. Null when direct I/O is not available here.
    /// </summary>
    /// <param name="written">
    /// Told, in file order, each range of whole blocks once it is written (offset, length), such
    /// as to read it into the page cache behind the writer. Never a partial last block.
    /// </param>
    public static DirectUploadWriter? TryOpen(string path, long offset, Action<long, long>? written = null)
    {
        if (!s_supported)
        {
            return null;
        }

        if (!s_active.Wait(0))
        {
            return null;
        }

        var fd = LibC.Open(path, OpenFlags, 0);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            s_active.Release();
            if (errno is 2 or 20)
            {
                // ENOENT, ENOTDIR: the upload is gone.
                throw new FileNotFoundException("upload data not found", path);
            }

            // EINVAL and friends: this filesystem or kernel does not do direct I/O.
            s_supported = false;
            return null;
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        DirectUploadWriter? writer = null;
        try
        {
            if (RandomAccess.GetLength(handle) != offset)
            {
                RandomAccess.SetLength(handle, offset);
            }

            writer = new DirectUploadWriter(handle, offset, written);
            if (writer._filled > 0)
            {
                // The chunk starts inside a block: carry the block's stored bytes along.
                var read = RandomAccess.Read(handle, writer._current.Memory.Span[..Alignment], writer._bufferStart);
                if (read != writer._filled)
                {
                    throw new IOException($"read {read} of the {writer._filled} bytes stored before offset {offset}");
                }
            }

            if (offset > 0)
            {
                // Earlier chunks may have left bytes in the device cache: flush them while this
                // chunk's first buffer fills from the network.
                writer._earlierChunksFlushed = Task.Run(() => FlushDeviceCacheOrThrow(handle));
            }

            return writer;
        }
        catch
        {
            if (writer is null)
            {
                handle.Dispose();
                s_active.Release();
            }
            else
            {
                writer.Release();
            }

            throw;
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        while (buffer.Length > 0)
        {
            var take = Math.Min(buffer.Length, BufferSize - _filled);
            buffer.Span[..take].CopyTo(_current.Memory.Span[_filled..]);
            _filled += take;
            buffer = buffer[take..];
            if (_filled == BufferSize)
            {
                Interlocked.Increment(ref _waiting);
                _lastWrite = WriteAfterThenFlushWhenIdleAsync(_lastWrite, _current.Memory, _bufferStart);
                _pending.Enqueue((_lastWrite, _current));
                _bufferStart += BufferSize;
                _filled = 0;
                if (_pending.Count < PipelineDepth)
                {
                    _current = Rent();
                }
                else
                {
                    // Reuse the oldest buffer once its bytes are written.
                    var (written, oldest) = _pending.Dequeue();
                    _current = oldest;
                    await written;
                }
            }
        }
    }

    public override void Write(byte[] buffer, int offset, int count)
        => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Flush()
    {
        // Bytes reach the file at dispose, when the last partial block can be cut to length.
    }

    /// <summary>Writes what is still buffered and sets the file's length; the bytes are then in the file.</summary>
    public override async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        try
        {
            await _lastWrite;
            if (_filled > 0)
            {
                var padded = (_filled + Alignment - 1) / Alignment * Alignment;
                _current.Memory.Span[_filled..padded].Clear();
                await RandomAccess.WriteAsync(_handle, _current.Memory[..padded], _bufferStart, CancellationToken.None);
                RandomAccess.SetLength(_handle, _bufferStart + _filled);
                if (_filled / Alignment * Alignment is > 0 and var whole)
                {
                    _written?.Invoke(_bufferStart, whole);
                }
            }
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

    private async Task WriteAfterThenFlushWhenIdleAsync(Task previous, ReadOnlyMemory<byte> bytes, long offset)
    {
        await previous;
        Interlocked.Decrement(ref _waiting);
        await RandomAccess.WriteAsync(_handle, bytes, offset, CancellationToken.None);
        _written?.Invoke(offset, bytes.Length);
        _unflushed += bytes.Length;
        if (_unflushed < FlushAfter || Volatile.Read(ref _waiting) > 0)
        {
            return;
        }

        FlushDeviceCacheOrThrow(_handle);
        _unflushed = 0;
    }

    private static void FlushDeviceCacheOrThrow(SafeFileHandle handle) => LibC.ThrowIfFailed(LibC.FDataSync(handle), "fdatasync");

    private static int OpenFlags => RuntimeInformation.ProcessArchitecture switch
    {
        // O_WRONLY is 1 everywhere; O_RDWR 2; O_CLOEXEC 0x80000. O_DIRECT is 0x4000 on x86 and 0x10000 on arm64.
        Architecture.Arm64 => 2 | 0x10000 | 0x80000,
        _ => 2 | ODirect | 0x80000,
    };

    private static AlignedBuffer Rent() => s_pool.TryTake() ?? new AlignedBuffer();

    private static void Return(AlignedBuffer buffer) => s_pool.Return(buffer);

    private void Release()
    {
        _handle.Dispose();
        s_active.Release();
        Return(_current);
        while (_pending.TryDequeue(out var pending))
        {
            if (pending.Written.IsCompleted)
            {
                Return(pending.Buffer);
            }
        }
    }

    /// <summary>A 4 MiB window of a pinned array that starts on a 4 KiB boundary, as direct I/O requires.</summary>
    private sealed class AlignedBuffer
    {
        private readonly byte[] _array = GC.AllocateUninitializedArray<byte>(BufferSize + Alignment, pinned: true);

        public AlignedBuffer()
        {
            // Pinned arrays never move, so the address taken here stays valid.
            var start = Marshal.UnsafeAddrOfPinnedArrayElement(_array, 0);
            var skip = (int)((Alignment - (start % Alignment)) % Alignment);
            Memory = _array.AsMemory(skip, BufferSize);
        }

        public Memory<byte> Memory { get; }
    }
}
