using Registry.Api.Oci;

namespace Registry.Api.Extensions;

public static class OciEndpointExtensions
{
    /// <summary>Maps <c>/v2/</c>: every response carries the API version header.</summary>
    public static void MapOciApi(this WebApplication app)
    {
        app.Use((context, next) =>
        {
            if (context.Request.Path.StartsWithSegments("/v2"))
            {
                context.Response.Headers["Docker-Distribution-API-Version"] = "registry/2.0";
            }

            return next(context);
        });

        var endpoint = app.Services.GetRequiredService<OciEndpoint>();
        app.Map("/v2/{**path}", (HttpContext context, string? path) => endpoint.HandleAsync(context, path));
    }

    /// <summary>Warns when the API is reachable beyond this machine while there is no authentication.</summary>
    public static void WarnIfExposed(this WebApplication app, RegistryOptions options)
    {
        var host = options.Listen.Split("://", 2)[^1].Split('/')[0];
        host = host.StartsWith('[') ? host[..(host.IndexOf(']', StringComparison.Ordinal) + 1)] : host.Split(':')[0];
        var loopback = host is "localhost" or "[::1]" || (System.Net.IPAddress.TryParse(host, out var ip) && System.Net.IPAddress.IsLoopback(ip));
        if (!loopback)
        {
            Log.ListeningBeyondLoopback(app.Logger, options.Listen);
        }
    }
}
