using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Registry.Storage;

/// <summary>
/// Reads a stored blob's file for a GET (docs/storage-layout.md, Reads): buffered, so the pages
/// read stay cached for the next puller; what the page cache already holds is read on the
/// caller's thread; what it lacks is read on the thread pool while the kernel is kept reading
/// ahead of the reader.
/// </summary>
/// <remarks>
/// A cached read costs about as much as copying the bytes, but .NET's asynchronous file reads
/// always hop to a thread-pool thread and back, which costs more than the copy itself for the
/// 64 KiB a response block takes. So each read first asks for the bytes without waiting for
/// the disk (<c>preadv2</c> with <c>RWF_NOWAIT</c>) and only goes asynchronous when the kernel
/// says they are not cached yet. A file just written with direct I/O is not cached at all; the
/// kernel's own read-ahead grows slowly from a few hundred KiB, so the reader asks for
/// <see cref="ReadAheadDistance"/> ahead of itself (<c>POSIX_FADV_WILLNEED</c>, which starts the
/// reads and returns), and the disk streams while the socket sends.
/// </remarks>
internal sealed class BlobFileReader : ReadOnlyStreamBase
{
    /// <summary>How far ahead of the reader the kernel is asked to have read.</summary>
    internal const long ReadAheadDistance = 32 * 1024 * 1024;

    /// <summary>The reader moves this far before the next stretch is asked for (one call per step).</summary>
    internal const long ReadAheadStep = 8 * 1024 * 1024;

    /// <summary>Smaller files (manifests, configs) are left to the kernel's own read-ahead.</summary>
    internal const long ReadAheadMinimum = 1024 * 1024;

    // Cleared for the process at the first EOPNOTSUPP/ENOSYS (a kernel or filesystem without it).
    private static bool s_noWaitSupported = OperatingSystem.IsLinux();

    private readonly SafeFileHandle _file;
    private readonly long _length;
    private readonly bool _readAhead;
    private long _position;
    private long _advisedTo;

    private BlobFileReader(SafeFileHandle file, long offset)
    {
        _file = file;
        _length = RandomAccess.GetLength(file);
        _position = offset;
        _advisedTo = offset;
        _readAhead = OperatingSystem.IsLinux() && _length - offset >= ReadAheadMinimum;
    }

    /// <summary>Bytes read through the thread pool because the page cache lacked them, since start (tests read it).</summary>
    internal static long UncachedReads => Interlocked.Read(ref s_uncachedReads);

    private static long s_uncachedReads;

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
        ReadAhead();
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

        ReadAhead();
        if (s_noWaitSupported && TryReadCached(buffer.Span) is var cached and >= 0)
        {
            _position += cached;
            return ValueTask.FromResult(cached);
        }

        return ReadUncachedAsync(buffer, cancellationToken);
    }

    private async ValueTask<int> ReadUncachedAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var read = await RandomAccess.ReadAsync(_file, buffer, _position, cancellationToken);
        Interlocked.Add(ref s_uncachedReads, read);
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

    /// <summary>Keeps the kernel reading up to <see cref="ReadAheadDistance"/> ahead of the reader, a step at a time.</summary>
    private void ReadAhead()
    {
        if (!_readAhead)
        {
            return;
        }

        var target = Math.Min(_length, _position + ReadAheadDistance);
        if (target - _advisedTo >= ReadAheadStep || (target == _length && _advisedTo < _length))
        {
            var from = Math.Max(_advisedTo, _position);

            // Advice only: a failure leaves the kernel's own read-ahead, and the reads report real errors.
            _ = LibC.FAdvise(_file, from, target - from, LibC.FAdviseWillNeed);
            _advisedTo = target;
        }
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
