using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Registry.Storage;

/// <summary>
/// Makes files and renames durable, and says so when the disk refuses: every caller that
/// acknowledges a write after one of these calls may rely on it having reached the disk.
/// </summary>
/// <remarks>
/// <c>FileStream.Flush(true)</c> and <c>RandomAccess.FlushToDisk</c> are not used on Unix: the runtime's shim returns 1 instead of -1
/// when <c>fsync</c> fails, and the failure is then ignored (seen with EIO and ENOSPC injected).
/// A file written into a directory under a new name, or renamed there, survives a machine crash
/// only once that directory is flushed as well.
/// </remarks>
public static class DurableFiles
{
    private const int ReadOnlyDirectory = 0x10000 | 0x80000; // O_RDONLY | O_DIRECTORY | O_CLOEXEC (x86-64)
    private const int ReadOnlyDirectoryArm64 = 0x4000 | 0x80000; // O_DIRECTORY is 0x4000 on arm64

    /// <summary>Flushes the file's bytes and size to the disk; throws <see cref="IOException"/> when that fails.</summary>
    public static void Flush(SafeFileHandle handle)
    {
        if (OperatingSystem.IsWindows())
        {
            RandomAccess.FlushToDisk(handle);
            return;
        }

        if (FSync(handle) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"fsync failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
    }

    /// <summary>Flushes the file at <paramref name="path"/> to the disk.</summary>
    public static void Flush(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
        Flush(handle);
    }

    /// <summary>
    /// Flushes the directory that holds <paramref name="path"/>, making a file created or renamed
    /// into it durable. Does nothing where directories cannot be opened (Windows, which needs none).
    /// </summary>
    public static void FlushDirectoryOf(string path) => FlushDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);

    /// <summary>
    /// Creates <paramref name="directory"/> and any missing parents, flushing the parent of each one
    /// created so that it survives a machine crash. Nothing is flushed when it already exists.
    /// </summary>
    public static void CreateDirectory(string directory)
    {
        if (Directory.Exists(directory))
        {
            return;
        }

        var parent = Path.GetDirectoryName(Path.GetFullPath(directory));
        if (parent is not null)
        {
            CreateDirectory(parent);
        }

        Directory.CreateDirectory(directory);
        if (parent is not null)
        {
            FlushDirectory(parent);
        }
    }

    /// <summary>Flushes <paramref name="directory"/>'s entries to the disk.</summary>
    public static void FlushDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var flags = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? ReadOnlyDirectoryArm64 : ReadOnlyDirectory;
        var fd = Open(directory, flags, 0);
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

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static extern int FSync(SafeFileHandle fd);

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);
}
