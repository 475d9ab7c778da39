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

    /// <summary>Maps the file's first <paramref name="length"/> bytes for reading (nothing is read); -1 when that fails.</summary>
    public static nint MapShared(SafeFileHandle fd, long length)
        => length > 0 ? Mmap(0, (nuint)length, 1 /* PROT_READ */, 1 /* MAP_SHARED */, fd, 0) : -1;

    /// <summary>Unmaps what <see cref="MapShared"/> mapped.</summary>
    public static void Unmap(nint address, long length) => _ = Munmap(address, (nuint)length);

    /// <summary>
    /// Fills <paramref name="flags"/> with one byte per page of the mapped range, bit 0 set when
    /// the page is in the page cache and up to date; false when the call fails.
    /// </summary>
    public static unsafe bool IsResident(nint address, long length, byte[] flags)
    {
        fixed (byte* vector = flags)
        {
            return Mincore(address, (nuint)length, vector) == 0;
        }
    }

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint address, nuint length, int protection, int flags, SafeFileHandle fd, long offset);

    [LibraryImport("libc", EntryPoint = "munmap")]
    private static partial int Munmap(nint address, nuint length);

    [LibraryImport("libc", EntryPoint = "mincore", SetLastError = true)]
    private static unsafe partial int Mincore(nint address, nuint length, byte* vector);
}
