using Orleans.Runtime;
using Registry.Grains;

namespace Registry.Api.Events;

/// <summary>
/// Who asks, carried to the grains so the events of the changes that follow can say so (on
/// <c>/v2</c> and <c>/apis</c> alike). Synchronous on purpose: the Orleans request context is an
/// async-local, so it stays set for the caller.
/// </summary>
public static class ChangeOrigins
{
    public static void Stamp(HttpContext context, string? actor, EventSourceReplica source)
    {
        var request = context.Request;
        RequestContext.Set(ChangeOrigin.ContextKey, new ChangeOrigin(
            new EventRequest(
                context.TraceIdentifier,
                context.Connection.RemoteIpAddress is { } ip ? $"{ip}:{context.Connection.RemotePort}" : "",
                request.Host.Value ?? "",
                request.Method,
                request.Headers.UserAgent.ToString()),
            actor,
            source));
    }
}
