namespace Registry.Api.Events;

internal static partial class EventsLog
{
    [LoggerMessage(1, LogLevel.Information, "Dispatching registry events to {Count} in-process subscriber(s) (resumed an existing subscription: {Resumed})")]
    public static partial void Subscribed(ILogger logger, int count, bool resumed);

    [LoggerMessage(2, LogLevel.Warning, "Could not unsubscribe from the registry event stream")]
    public static partial void UnsubscribeFailed(ILogger logger, Exception exception);

    [LoggerMessage(3, LogLevel.Debug, "Dropped event {EventId}: already dispatched")]
    public static partial void Duplicate(ILogger logger, string eventId);

    [LoggerMessage(4, LogLevel.Error, "Subscriber {Subscriber} failed on event {EventId} ({Action} {Repository})")]
    public static partial void SubscriberFailed(ILogger logger, Exception exception, string subscriber, string eventId, string action, string repository);

    [LoggerMessage(5, LogLevel.Warning, "Watch of namespace '{Namespace}' ended by an error")]
    public static partial void WatchFailed(ILogger logger, Exception exception, string @namespace);

    [LoggerMessage(6, LogLevel.Warning, "Could not read the tail of the audit log {Path}; ids already logged may be logged again")]
    public static partial void AuditSeedFailed(ILogger logger, Exception exception, string path);

    [LoggerMessage(7, LogLevel.Information, "The event log of namespace '{Namespace}' did not answer a watch ({Error}: {Message}); heartbeats go on and it is asked again")]
    public static partial void WatchLogUnanswered(ILogger logger, string @namespace, string error, string message);

    [LoggerMessage(8, LogLevel.Information, "The event log of namespace '{Namespace}' answers a watch again after {Seconds:F1} s")]
    public static partial void WatchLogAnswered(ILogger logger, string @namespace, double seconds);
}
