using Orleans.Runtime;
using Registry.Api.Events;
using Registry.Api.Oci;
using Registry.Grains;

namespace Registry.Api.Extensions;

public static class OciEndpointExtensions
{
    /// <summary>Maps <c>/v2/</c>: every response carries the API version header.</summary>
    public static void MapOciApi(this WebApplication app)
    {
        // The bound address is known once the server runs (a configured port 0 becomes a real one).
        var source = new Lazy<EventSourceReplica>(() => new EventSourceReplica(ListenAuthority(app.Services), InstanceId));
        app.Use((context, next) =>
        {
            // Kestrel resolves "." and ".." before routing, so /v2/a/../b would act on b: a proxy
            // that allows or blocks by path prefix would be fooled. Such a request target is refused.
            if (HasDotSegment(context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget))
            {
                context.Response.Headers["Docker-Distribution-API-Version"] = "registry/2.0";
                return OciErrorCode.NameInvalid.WithDetail("a request path must not contain '.' or '..' segments").ExecuteAsync(context);
            }

            if (context.Request.Path.StartsWithSegments("/v2"))
            {
                context.Response.Headers["Docker-Distribution-API-Version"] = "registry/2.0";

                ChangeOrigins.Stamp(context, context.User.Identity?.Name, source.Value);
            }

            return next(context);
        });

        var endpoint = app.Services.GetRequiredService<OciEndpoint>();
        app.Map("/v2/{**path}", (HttpContext context, string? path) => endpoint.HandleAsync(context, path));

        // Any other path: an error body too, not an empty 404 (a client that lost its way sees why).
        app.MapFallback(() => OciErrorCode.NameUnknown.WithDetail("no such endpoint"));
    }

    /// <summary>Whether the path of a raw request target has a <c>.</c> or <c>..</c> segment, plain or percent-encoded.</summary>
    /// <remarks>Runs on every request, so it allocates nothing and returns at once for a path without '.' or '%'.</remarks>
    internal static bool HasDotSegment(ReadOnlySpan<char> rawTarget)
    {
        var query = rawTarget.IndexOf('?');
        var path = query < 0 ? rawTarget : rawTarget[..query];
        if (path.IndexOfAny('.', '%') < 0)
        {
            return false;
        }

        foreach (var segment in path.Split('/'))
        {
            if (IsDots(path[segment]))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>"." or "..", each dot possibly written %2e or %2E.</summary>
    private static bool IsDots(ReadOnlySpan<char> segment)
    {
        var dots = 0;
        for (var i = 0; i < segment.Length; dots++)
        {
            if (segment[i] == '.')
            {
                i++;
            }
            else if (segment.Length - i >= 3 && segment[i] == '%' && segment[i + 1] == '2' && (segment[i + 2] | 0x20) == 'e')
            {
                i += 3;
            }
            else
            {
                return false;
            }
        }

        return dots is 1 or 2;
    }

    /// <summary>Identifies this process in events (<c>source.instanceID</c>).</summary>
    public static string InstanceId { get; } = Guid.NewGuid().ToString();

    /// <summary>The address events name as their <c>source.addr</c>: the first one the server bound.</summary>
    internal static string ListenAuthority(IServiceProvider services)
    {
        var listen = services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ApiOptions>>().Value.Listen;
        return ApiOptions.ParseListen(listen)?.Authority ?? listen;
    }
}
