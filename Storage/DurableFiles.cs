using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Registry.Storage;

/// <summary>
/// Makes files and renames durable, and says so when the disk refuses: every caller that
/// acknowledges a write after one of these calls may rely on it having reached the disk.
/// </summary>
/// <remarks>
/// <c>FileStream.Flush(true)</c> and <c>RandomAccess.FlushToDisk</c> are not used on Unix: the
/// runtime's shim returns 1 instead of -1 when <c>fsync</c> fails, and the failure is then
/// ignored (seen with EIO and ENOSPC injected).
/// A file written into a directory under a new name, or renamed there, survives a machine crash
/// only once that directory is flushed as well.
/// </remarks>
public static class DurableFiles
{
    private const int ReadOnly = 0; // O_RDONLY, the same everywhere; the descriptor lives for one fsync

    /// <summary>Directories made durable by this process, so each is flushed into its parent once (while it exists).</summary>
    private static readonly ConcurrentDictionary<string, bool> s_durableDirectories = new(StringComparer.Ordinal);

    /// <summary>Flushes the file's bytes and size to the disk; throws <see cref="IOException"/> when that fails.</summary>
    public static void Flush(SafeFileHandle handle)
    {
        if (OperatingSystem.IsWindows())
        {
            RandomAccess.FlushToDisk(handle);
            return;
        }

        LibC.ThrowIfFailed(LibC.FSync(handle), "fsync");
    }

    /// <summary>
    /// Flushes the directory that holds <paramref name="path"/>, making a file created or renamed
    /// into it durable. Does nothing where directories cannot be opened (Windows, which needs none).
    /// </summary>
    public static void FlushDirectoryOf(string path) => FlushDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);

    /// <summary>
    /// Creates <paramref name="directory"/> and any missing parents, flushing the parent of each one
    /// created so that it survives a machine crash. A directory found present is flushed into its
    /// parent too (another thread may have just created it and not flushed it yet), but not its
    /// ancestors. Each directory is handled once per process.
    /// </summary>
    public static void CreateDirectory(string directory) => Ensure(Path.GetFullPath(directory), flushIfPresent: true);

    private static void Ensure(string directory, bool flushIfPresent)
    {
        var existed = Directory.Exists(directory);
        if (existed && s_durableDirectories.ContainsKey(directory))
        {
            return;
        }

        var parent = Path.GetDirectoryName(directory);
        if (!existed)
        {
            if (parent is not null)
            {
                Ensure(parent, flushIfPresent: false);
            }

            Directory.CreateDirectory(directory);
        }

        if (parent is not null && (!existed || flushIfPresent))
        {
            FlushDirectory(parent);
        }

        s_durableDirectories.TryAdd(directory, true);
    }

    /// <summary>Flushes <paramref name="directory"/>'s entries to the disk.</summary>
    public static void FlushDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var fd = LibC.Open(directory, ReadOnly, 0);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw errno is 2 or 20
                ? new DirectoryNotFoundException($"'{directory}' is gone")
                : new IOException($"opening '{directory}' to flush it failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }

        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        Flush(handle);
    }
}
