using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Registry.Storage;

/// <summary>
/// The libc calls the filesystem driver needs and .NET does not offer, or offers with failures
/// ignored (its <c>fsync</c> shim reports a failed call as success). Linux and other Unix only.
/// </summary>
internal static partial class LibC
{
    /// <summary>
    /// Throws an <see cref="IOException"/> naming <paramref name="call"/> and the error it left
    /// when <paramref name="result"/> is not 0.
    /// </summary>
    public static void ThrowIfFailed(int result, string call)
    {
        if (result != 0)
        {
            // Read before anything else runs: formatting may call into native code that sets it.
            var errno = Marshal.GetLastPInvokeError();
            // The errno as HResult, as .NET's own IOExceptions carry it on Unix (StorageErrors reads it).
            throw new IOException($"{call} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})", errno);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int FSync(SafeFileHandle fd);

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    public static partial int FDataSync(SafeFileHandle fd);

    [LibraryImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    public static partial int SyncFileRange(SafeFileHandle fd, long offset, long nbytes, uint flags);

    /// <summary><c>posix_fadvise</c>: returns the error number itself (0 on success) and leaves errno alone.</summary>
    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    public static partial int PosixFadvise(SafeFileHandle fd, long offset, long length, int advice);
}
