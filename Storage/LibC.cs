using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Registry.Storage;

/// <summary>
/// The libc calls the filesystem driver needs and .NET does not offer, or offers with failures
/// ignored (its <c>fsync</c> shim reports a failed call as success). Linux and other Unix only.
/// </summary>
internal static class LibC
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
            throw new IOException($"{call} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    public static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static extern int FSync(SafeFileHandle fd);

    [DllImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    public static extern int FDataSync(SafeFileHandle fd);

    [DllImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    public static extern int SyncFileRange(int fd, long offset, long nbytes, uint flags);
}
