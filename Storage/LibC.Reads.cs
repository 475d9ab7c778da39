using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Registry.Storage;

/// <summary>The libc calls of the blob read path (<see cref="BlobFileReader"/>). Linux only.</summary>
internal static partial class LibC
{
    /// <summary><c>RWF_NOWAIT</c>: answer <c>EAGAIN</c> rather than wait for the disk.</summary>
    public const int ReadNoWait = 0x8;

    /// <summary><c>EOPNOTSUPP</c> on Linux: the kernel or the filesystem has no <c>RWF_NOWAIT</c> for buffered reads.</summary>
    public const int ErrorNotSupported = 95;

    /// <summary><c>ENOSYS</c>: no <c>preadv2</c> at all (an old kernel).</summary>
    public const int ErrorNoSystemCall = 38;

    [LibraryImport("libc", EntryPoint = "preadv2", SetLastError = true)]
    public static unsafe partial nint PReadV2(SafeFileHandle fd, IoVec* iov, int count, long offset, int flags);

    /// <summary><c>struct iovec</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct IoVec
    {
        public byte* Base;
        public nuint Length;
    }
}
