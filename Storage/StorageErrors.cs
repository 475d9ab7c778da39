namespace Registry.Storage;

/// <summary>Recognises storage failures that need an answer of their own rather than "unknown error".</summary>
public static class StorageErrors
{
    // Unix errno values, which .NET puts in IOException.HResult on Unix; and the Windows HRESULTs.
    private const int NoSpace = 28; // ENOSPC
    private const int QuotaExceeded = 122; // EDQUOT
    private const int WindowsDiskFull = unchecked((int)0x80070070);
    private const int WindowsHandleDiskFull = unchecked((int)0x80070027);

    /// <summary>
    /// Whether <paramref name="exception"/>, or one it wraps (a grain call passes the driver's
    /// exception through), says the disk or the quota is full.
    /// </summary>
    public static bool IsOutOfSpace(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is AggregateException aggregate && aggregate.InnerExceptions.Any(IsOutOfSpace))
            {
                return true;
            }

            if (e is IOException { HResult: NoSpace or QuotaExceeded or WindowsDiskFull or WindowsHandleDiskFull })
            {
                return true;
            }
        }

        return false;
    }
}
