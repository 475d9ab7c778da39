namespace Registry.Api;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Warning, "Listening on {Address}, which is not loopback, over plain HTTP: passwords and tokens cross the network readable; put a TLS-terminating proxy or ingress in front (docs/security.md, Defaults).")]
    public static partial void ListeningBeyondLoopback(ILogger logger, string address);

    [LoggerMessage(2, LogLevel.Information, "Blob {Digest} ({Size} bytes) stored for {Repository}")]
    public static partial void BlobCommitted(ILogger logger, string repository, string digest, long size);

    [LoggerMessage(3, LogLevel.Information, "Manifest {Digest} pushed to {Repository} (tag {Tag})")]
    public static partial void ManifestPushed(ILogger logger, string repository, string digest, string? tag);

    [LoggerMessage(4, LogLevel.Warning, "Upload {UploadId} to {Repository}: digest mismatch, expected {Expected}, computed {Actual}")]
    public static partial void DigestMismatch(ILogger logger, string repository, string uploadId, string expected, string actual);

    [LoggerMessage(5, LogLevel.Information, "Registry serving on {Address} in {Mode} mode, data in {Data}")]
    public static partial void Started(ILogger logger, string address, Registry.Silo.RegistryMode mode, string data);

    [LoggerMessage(6, LogLevel.Error, "Unhandled error on {Method} {Path}")]
    public static partial void Unhandled(ILogger logger, Exception exception, string method, string path);

    [LoggerMessage(21, LogLevel.Debug, "{Method} {Path}: the client went away ({Failure})")]
    public static partial void ClientGone(ILogger logger, string method, string path, string failure);

    [LoggerMessage(20, LogLevel.Warning, "{Method} {Path} answered 503 (retry): {Failure}")]
    public static partial void Transient(ILogger logger, string failure, string method, string path);

    [LoggerMessage(22, LogLevel.Warning, "{Method} {Path} answered 507: the storage is full")]
    public static partial void OutOfSpace(ILogger logger, string method, string path);

    [LoggerMessage(8, LogLevel.Warning, "Upload {UploadId} to {Repository} was cancelled but its staged bytes could not be removed; the upload sweep will")]
    public static partial void DiscardFailed(ILogger logger, Exception exception, string repository, string uploadId);

    [LoggerMessage(7, LogLevel.Information, "Blob {Digest} mounted into {Repository} from {From}")]
    public static partial void BlobMounted(ILogger logger, string repository, string digest, string? from);
}
