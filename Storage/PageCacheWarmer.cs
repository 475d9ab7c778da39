using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace Registry.Storage;

/// <summary>
/// Bounds on handing a blob just committed to the page cache (<c>Registry:Uploads:CacheHandOffMaxBlobBytes</c>
/// and <c>CacheHandOffMaxPendingBytes</c>; docs/storage-layout.md). Zero for either turns the hand-off off.
/// </summary>
/// <param name="MaxBlobBytes">Blobs larger than this are left to the disk.</param>
/// <param name="MaxPendingBytes">Bytes queued or being read at once; a commit beyond it is left to the disk.</param>
public sealed record PageCacheHandOff(long MaxBlobBytes, long MaxPendingBytes)
{
    /// <summary>The defaults: blobs up to 1 GiB, at most 2 GiB queued.</summary>
    public static PageCacheHandOff Default { get; } = new(1L << 30, 2L << 30);

    /// <summary>No hand-off.</summary>
    public static PageCacheHandOff Off { get; } = new(0, 0);

    /// <summary>Whether any blob can be handed off.</summary>
    public bool Enabled => MaxBlobBytes > 0 && MaxPendingBytes > 0;
}

/// <summary>
/// Reads blobs just written with direct I/O into the page cache, off the request path, so that the
/// first pulls after a push (a build pushes, then every node that runs it pulls) find them in
/// memory. One background thread per store asks the kernel to read ahead
/// (<c>posix_fadvise(POSIX_FADV_WILLNEED)</c>) over each blob, in the order they were committed,
/// so all of its reads are queued at once and run at the device's speed, and then reads the pages
/// not in yet (<c>mincore</c>) to wait for them; a GET that starts meanwhile waits only for the
/// pages on their way in.
/// </summary>
/// <remarks>
/// The kernel reads at most one readahead window per call (the larger of the device's
/// <c>read_ahead_kb</c> and <c>max_sectors_kb</c>), so the blob is asked for a window at a time;
/// the window is looked up once from sysfs and is 128 KiB where it cannot be. A hint only: a blob
/// deleted or unreadable meanwhile, or a kernel without the call, is skipped without a failure.
/// </remarks>
public sealed class PageCacheWarmer
{
    private const int WillNeed = 3; // POSIX_FADV_WILLNEED
    private const long MinWindow = 128 * 1024;
    private const long MaxWindow = 16 * 1024 * 1024;
    private const int ReadBufferSize = 1024 * 1024;

    private static bool s_supported = OperatingSystem.IsLinux();

    private readonly PageCacheHandOff _bounds;
    private readonly Queue<(string Path, long Length, TaskCompletionSource Done)> _items = new();
    private readonly Lock _lock = new();
    private bool _draining;
    private byte[]? _buffer; // the draining thread's only
    private Task _drained = Task.CompletedTask;
    private long _pending;
    private long _handedOff;
    private long _skipped;

    /// <param name="directory">Where the blobs are: its device's readahead window sets the size of each request.</param>
    /// <param name="bounds">Which blobs are handed off and how many bytes may wait.</param>
    public PageCacheWarmer(string directory, PageCacheHandOff bounds)
    {
        _bounds = bounds;
        Window = ReadAheadWindow(directory);
    }

    /// <summary>Bytes asked for per call: the device's readahead window.</summary>
    public long Window { get; }

    /// <summary>Bytes queued or being read.</summary>
    public long PendingBytes => Interlocked.Read(ref _pending);

    /// <summary>Bytes handed to the page cache so far.</summary>
    public long HandedOffBytes => Interlocked.Read(ref _handedOff);

    /// <summary>Blobs left to the disk because of the bounds.</summary>
    public long SkippedBlobs => Interlocked.Read(ref _skipped);

    /// <summary>Completes when every blob queued so far has been handed off (or given up on).</summary>
    public Task Drained
    {
        get
        {
            lock (_lock)
            {
                return _drained;
            }
        }
    }

    /// <summary>Held by tests to keep the worker from starting the next blob.</summary>
    internal ManualResetEventSlim? Gate { get; set; }

    /// <summary>
    /// Queues the committed blob at <paramref name="path"/> to be read into the page cache; false
    /// (and nothing queued) when it is larger than allowed, would take the queue beyond its bound,
    /// or the hand-off is off or unsupported here.
    /// </summary>
    public bool TryQueue(string path, long length)
    {
        if (!s_supported || !_bounds.Enabled || length <= 0)
        {
            return false;
        }

        if (length > _bounds.MaxBlobBytes)
        {
            Interlocked.Increment(ref _skipped);
            return false;
        }

        if (Interlocked.Add(ref _pending, length) > _bounds.MaxPendingBytes)
        {
            // The disk is busy enough reading what was queued before: this one is left to the GETs.
            Interlocked.Add(ref _pending, -length);
            Interlocked.Increment(ref _skipped);
            return false;
        }

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            _items.Enqueue((path, length, done));
            _drained = done.Task;
            if (!_draining)
            {
                _draining = true;
                // Its own thread: each call blocks until the kernel has queued the reads.
                new Thread(Drain) { IsBackground = true, Name = "page-cache hand-off" }.Start();
            }
        }

        return true;
    }

    private void Drain()
    {
        while (true)
        {
            (string Path, long Length, TaskCompletionSource Done) item;
            lock (_lock)
            {
                if (!_items.TryDequeue(out item))
                {
                    _draining = false;
                    return;
                }
            }

            Gate?.Wait();
            try
            {
                Interlocked.Add(ref _handedOff, HandOff(item.Path, item.Length));
            }
            finally
            {
                Interlocked.Add(ref _pending, -item.Length);
                item.Done.TrySetResult();
            }
        }
    }

    /// <summary>Asks the kernel to read the file in, a window at a time; the bytes asked for.</summary>
    private long HandOff(string path, long length)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Deleted (collected) or unreadable meanwhile: nothing to hand off.
            return 0;
        }

        using (handle)
        {
            var offset = ReadAhead(handle, 0, length);

            // Then read what is not in the cache yet, which waits for the pages still on their
            // way (they count as pending until in) and fetches what readahead leaves out: the
            // last, partial page of a file written with direct I/O. Only those pages: the rest
            // would be a copy for nothing (mincore tells them apart).
            _buffer ??= GC.AllocateUninitializedArray<byte>(ReadBufferSize);
            try
            {
                ReadMissing(handle, length);
            }
            catch (IOException)
            {
                // A read error is the GET's to report, not this hint's.
            }

            return offset;
        }
    }

    /// <summary>Reads every page of the file's first <paramref name="length"/> bytes that is not in the page cache.</summary>
    private void ReadMissing(SafeFileHandle handle, long length)
    {
        var page = Environment.SystemPageSize;
        var map = LibC.MapShared(handle, length);
        if (map == -1)
        {
            ReadRange(handle, 0, length);
            return;
        }

        try
        {
            // A slice's residency at a time: at most 16 KiB of flags for 64 MiB.
            const long Slice = 64 * 1024 * 1024;
            var resident = new byte[Slice / page];
            for (long slice = 0; slice < length; slice += Slice)
            {
                var size = Math.Min(Slice, length - slice);
                var pages = (int)((size + page - 1) / page);
                if (!LibC.IsResident(map + (nint)slice, size, resident))
                {
                    ReadRange(handle, slice, size);
                    continue;
                }

                var i = 0;
                while (i < pages)
                {
                    if ((resident[i] & 1) != 0)
                    {
                        i++;
                        continue;
                    }

                    var j = i + 1;
                    while (j < pages && (resident[j] & 1) == 0)
                    {
                        j++;
                    }

                    var start = slice + ((long)i * page);
                    ReadRange(handle, start, Math.Min(slice + size, slice + ((long)j * page)) - start);
                    i = j;
                }
            }
        }
        finally
        {
            LibC.Unmap(map, length);
        }
    }

    private void ReadRange(SafeFileHandle handle, long offset, long length)
    {
        var end = offset + length;
        while (offset < end)
        {
            var count = RandomAccess.Read(handle, _buffer.AsSpan(0, (int)Math.Min(_buffer!.Length, end - offset)), offset);
            if (count == 0)
            {
                return;
            }

            offset += count;
        }
    }

    /// <summary>
    /// Whether bytes of an upload still being written should be read into the page cache as soon
    /// as they are on the disk (<see cref="DirectUploadWriter"/>): those of a blob that may still be
    /// handed off whole, so that by its commit most of it is in memory already.
    /// </summary>
    internal bool ReadsBackBelow(long end) => s_supported && _bounds.Enabled && end <= _bounds.MaxBlobBytes;

    /// <summary>
    /// Asks the kernel to read <paramref name="length"/> bytes from <paramref name="offset"/> into
    /// the page cache, a window at a time, without waiting for them; the bytes asked for.
    /// </summary>
    internal long ReadAhead(SafeFileHandle handle, long offset, long length)
    {
        var end = offset + length;
        while (offset < end)
        {
            var take = Math.Min(Window, end - offset);
            int result;
            try
            {
                result = LibC.PosixFadvise(handle, offset, take, WillNeed);
            }
            catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
            {
                s_supported = false;
                break;
            }

            if (result != 0)
            {
                // posix_fadvise returns the error itself; none of them is the blob's failure.
                break;
            }

            offset += take;
        }

        return length - (end - offset);
    }

    /// <summary>
    /// The most the kernel reads ahead in one call for files under <paramref name="directory"/>:
    /// the larger of its block device's <c>read_ahead_kb</c> and <c>max_sectors_kb</c>, found
    /// through the mount table; <see cref="MinWindow"/> when that cannot be told.
    /// </summary>
    internal static long ReadAheadWindow(string directory)
    {
        if (!OperatingSystem.IsLinux())
        {
            return MinWindow;
        }

        try
        {
            var full = Path.GetFullPath(directory).TrimEnd('/') + "/";
            string? device = null;
            var longest = -1;
            foreach (var line in File.ReadLines("/proc/self/mountinfo"))
            {
                // "36 35 98:0 /mnt1 /mnt/parent rw,... - ext4 /dev/root rw": field 3 the device, field 5 where.
                var fields = line.Split(' ');
                if (fields.Length < 5)
                {
                    continue;
                }

                var mount = fields[4].Replace("\\040", " ", StringComparison.Ordinal).TrimEnd('/') + "/";
                if (full.StartsWith(mount, StringComparison.Ordinal) && mount.Length >= longest)
                {
                    longest = mount.Length;
                    device = fields[2];
                }
            }

            if (device is null)
            {
                return MinWindow;
            }

            var sys = $"/sys/dev/block/{device}";
            var queue = Directory.Exists(Path.Combine(sys, "queue")) ? Path.Combine(sys, "queue") : Path.Combine(sys, "..", "queue");
            var kib = Math.Max(ReadKib(Path.Combine(queue, "read_ahead_kb")), ReadKib(Path.Combine(queue, "max_sectors_kb")));
            return Math.Clamp(kib * 1024, MinWindow, MaxWindow);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or OverflowException)
        {
            // No block device behind it (tmpfs, overlay) or no sysfs: the kernel's default window.
            return MinWindow;
        }
    }

    private static long ReadKib(string path) => long.Parse(File.ReadAllText(path).Trim(), CultureInfo.InvariantCulture);
}
