using Microsoft.Extensions.Logging;

namespace Registry.Grains;

internal static partial class WebhookLog
{
    [LoggerMessage(1, LogLevel.Debug, "Webhook {Endpoint} ({Queue}): attempt {Failures} failed ({Outcome}); next in {Delay}")]
    public static partial void AttemptFailed(ILogger logger, string endpoint, string queue, int failures, string outcome, TimeSpan delay);

    [LoggerMessage(2, LogLevel.Warning, "Webhook {Endpoint} ({Queue}) is failing: {Failures} attempts in a row failed, the last with {Outcome}; {Pending} events wait, retried every {Delay}")]
    public static partial void EndpointFailing(ILogger logger, string endpoint, string queue, int failures, string outcome, int pending, TimeSpan delay);

    [LoggerMessage(3, LogLevel.Information, "Webhook {Endpoint} ({Queue}) recovered after {Failures} failed attempts")]
    public static partial void EndpointRecovered(ILogger logger, string endpoint, string queue, int failures);

    [LoggerMessage(4, LogLevel.Warning, "Webhook {Endpoint} ({Queue}): dropped the {Count} oldest undelivered events because {Reason} ({Total} dropped in all)")]
    public static partial void Dropped(ILogger logger, int count, string endpoint, string queue, string reason, long total);

    [LoggerMessage(5, LogLevel.Warning, "Webhook queue {Queue} stopped delivering; its stored events go out from its next activation")]
    public static partial void DeliveryStopped(ILogger logger, Exception exception, string queue);

    [LoggerMessage(6, LogLevel.Information, "Could not remove the empty webhook queue {Queue} from the directory")]
    public static partial void DirectoryRemoveFailed(ILogger logger, Exception exception, string queue);

    [LoggerMessage(7, LogLevel.Warning, "Webhook {Endpoint} ({Queue}) is not configured: its {Pending} queued events are kept and go out when it is configured again (Registry:Webhooks:Purge deletes them)")]
    public static partial void Held(ILogger logger, string endpoint, string queue, int pending);
}
