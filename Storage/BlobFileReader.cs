using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Registry.Storage;

/// <summary>
/// Reads a stored blob's file for a GET (docs/storage-layout.md, Reads): buffered, so the pages
/// read stay cached for the next puller; what the page cache already holds is read on the
/// caller's thread, what it lacks on the thread pool.
/// </summary>
/// <remarks>
/// A cached read costs about as much as copying the bytes, but .NET's asynchronous file reads
/// always hop to a thread-pool thread and back. So each read first asks for the bytes without
/// waiting for the disk (<c>preadv2</c> with <c>RWF_NOWAIT</c>) and only goes asynchronous when
/// the kernel says they are not cached. Read-ahead is the kernel's own, made twice as deep for
/// the file (<see cref="FileOptions.SequentialScan"/>): asking for more with
/// <c>POSIX_FADV_WILLNEED</c> or <c>readahead</c> fills the cache with 4 KiB pages instead of the
/// large folios of the kernel's read-ahead, and every later read of those pages costs more.
/// </remarks>
internal sealed class BlobFileReader : ReadOnlyStreamBase
{
    // Cleared for the process at the first EOPNOTSUPP/ENOSYS (a kernel or filesystem without it).
    private static bool s_noWaitSupported = OperatingSystem.IsLinux();

    private readonly SafeFileHandle _file;
    private readonly long _length;
    private long _position;

    private BlobFileReader(SafeFileHandle file, long offset)
    {
        _file = file;
        _length = RandomAccess.GetLength(file);
        _position = offset;
    }

    /// <summary>Opens the blob file at <paramref name="path"/> for reading from <paramref name="offset"/>.</summary>
    /// <exception cref="FileNotFoundException">No such blob.</exception>
    public static BlobFileReader Open(string path, long offset)
    {
        // SequentialScan: .NET tells the kernel (POSIX_FADV_SEQUENTIAL), which doubles its own read-ahead.
        var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, FileOptions.SequentialScan);
        try
        {
            return new BlobFileReader(file, offset);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public override int Read(Span<byte> buffer)
    {
        var read = RandomAccess.Read(_file, buffer, _position);
        _position += read;
        return read;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty || _position >= _length)
        {
            // Past the length taken at open: pread would answer 0 as well (blob files never grow).
            return ValueTask.FromResult(0);
        }

        if (s_noWaitSupported)
        {
            try
            {
                if (TryReadCached(buffer.Span) is var cached and >= 0)
                {
                    _position += cached;
                    return ValueTask.FromResult(cached);
                }
            }
            catch (EntryPointNotFoundException)
            {
                // A C library without preadv2 (glibc before 2.26).
                s_noWaitSupported = false;
            }
        }

        return ReadUncachedAsync(buffer, cancellationToken);
    }

    private async ValueTask<int> ReadUncachedAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var read = await RandomAccess.ReadAsync(_file, buffer, _position, cancellationToken);
        _position += read;
        return read;
    }

    /// <summary>The bytes read from the page cache without waiting for the disk; -1 when none of them is cached.</summary>
    private unsafe int TryReadCached(Span<byte> buffer)
    {
        fixed (byte* start = buffer)
        {
            var iov = new LibC.IoVec { Base = start, Length = (nuint)buffer.Length };
            var read = LibC.PReadV2(_file, &iov, 1, _position, LibC.ReadNoWait);
            if (read >= 0)
            {
                // 0 is the end of the file, as for pread; a short count is what was cached.
                return (int)read;
            }
        }

        // EAGAIN: not cached. Anything else (EIO...) the ordinary read reports as an IOException.
        if (Marshal.GetLastPInvokeError() is LibC.ErrorNotSupported or LibC.ErrorNoSystemCall)
        {
            s_noWaitSupported = false;
        }

        return -1;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _file.Dispose();
        }

        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync()
    {
        _file.Dispose();
        return ValueTask.CompletedTask;
    }
}
