namespace Registry.Api.Images;

internal static partial class ImageApiLog
{
    [LoggerMessage(1, LogLevel.Error, "Image API: unhandled error on {Method} {Path}")]
    public static partial void Unhandled(ILogger logger, Exception exception, string method, string path);

    [LoggerMessage(2, LogLevel.Warning, "Image API: {Failure} on {Method} {Path}; answered 503")]
    public static partial void Transient(ILogger logger, string failure, string method, string path);
}
