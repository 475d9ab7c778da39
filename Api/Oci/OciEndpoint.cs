using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Registry.Api.Observability;
using Registry.Storage;

namespace Registry.Api.Oci;

/// <summary>Routes every <c>/v2/</c> request to its handler after validating the repository name.</summary>
public sealed class OciEndpoint(Access.AccessGate access, BlobHandlers blobs, UploadHandlers uploads, ManifestHandlers manifests, ListingHandlers listings, RegistryMetrics metrics, ILogger<OciEndpoint> logger)
{
    public async Task<IResult> HandleAsync(HttpContext context, string? path)
    {
        var route = OciPath.Parse(path);
        var method = context.Request.Method;
        context.Features.Get<IHttpMetricsTagsFeature>()?.Tags.Add(new(RegistryMetrics.RouteTag, RegistryMetrics.RouteName(route.Route)));
        if (route.Route is not (OciRoute.NotFound or OciRoute.Base or OciRoute.Catalog) && !References.IsValidName(route.Name))
        {
            return OciErrorCode.NameInvalid.WithDetail($"'{Truncate(route.Name)}' is not a valid repository name");
        }

        try
        {
            if (await access.CheckAsync(context, route) is { } refused)
            {
                return refused;
            }

            Access.AccessGate.StampActor(context);

            return (route.Route, method) switch
            {
                (OciRoute.Base, "GET" or "HEAD") => OciResult.Status(200).WithBody("application/json", "{}"u8.ToArray()),
                (OciRoute.Catalog, "GET") => await listings.CatalogAsync(context),
                (OciRoute.Tags, "GET") => await listings.TagsAsync(context, route.Name),
                (OciRoute.Referrers, "GET") => await listings.ReferrersAsync(context, route.Name, route.Reference),
                (OciRoute.Manifest, "GET" or "HEAD") => await manifests.GetAsync(context, route.Name, route.Reference),
                (OciRoute.Manifest, "PUT") => await manifests.PutAsync(context, route.Name, route.Reference),
                (OciRoute.Manifest, "DELETE") => await manifests.DeleteAsync(route.Name, route.Reference),
                (OciRoute.Blob, "GET" or "HEAD") => await blobs.GetAsync(context, route.Name, route.Reference),
                (OciRoute.Blob, "DELETE") => await blobs.DeleteAsync(route.Name, route.Reference),
                (OciRoute.UploadStart, "POST") => await uploads.StartAsync(context, route.Name),
                (OciRoute.Upload, "GET") => await uploads.StatusAsync(route.Name, route.Reference),
                (OciRoute.Upload, "PATCH") => await uploads.PatchAsync(context, route.Name, route.Reference),
                (OciRoute.Upload, "PUT") => await uploads.PutAsync(context, route.Name, route.Reference),
                (OciRoute.Upload, "DELETE") => await uploads.DeleteAsync(route.Name, route.Reference),
                (OciRoute.NotFound, _) => OciErrorCode.NameUnknown.WithDetail("no such endpoint"),
                _ => OciErrorCode.Unsupported.WithDetail($"{method} is not supported here").WithHeader("Allow", Allowed(route.Route)),
            };
        }
        catch (Exception e) when (context.RequestAborted.IsCancellationRequested || e is ConnectionResetException || e.InnerException is ConnectionResetException)
        {
            // The client went away (reset, closed, timed out): not a fault of ours. Counted, and
            // logged at debug only, so a client cannot flood the log with stack traces.
            metrics.ClientGone(route.Route);
            Log.ClientGone(logger, method, context.Request.Path, e.GetType().Name);
            return Results.Empty;
        }
        catch (BadHttpRequestException)
        {
            // A body that ended early (the client closed mid-body), stalled or was malformed: Kestrel
            // answers it and logs it at debug; counted with the clients that went away.
            metrics.ClientGone(route.Route);
            throw;
        }
        catch (Exception e) when (StorageErrors.IsOutOfSpace(e))
        {
            // Not a bug of ours: an operator must free space. Reads keep working, /readyz fails.
            Log.OutOfSpace(logger, method, context.Request.Path);
            return OciErrorCode.InsufficientStorage.WithDetail("the registry's storage is full; retry once space has been freed");
        }
        catch (Exception e) when (IsTransient(e))
        {
            // A replica died or the cluster is re-balancing: its grains come back on the survivors
            // within seconds (docs/operations.md), so a retry will succeed.
            Log.Transient(logger, e.GetType().Name, method, context.Request.Path);
            return OciErrorCode.Unavailable.WithDetail("the cluster is recovering a replica; retry").WithHeader("Retry-After", "1");
        }
        catch (Exception e)
        {
            Log.Unhandled(logger, e, method, context.Request.Path);
            return OciErrorCode.Unknown.WithDetail();
        }
    }

    /// <summary>Failures that end by themselves: a silo that is gone or not yet declared dead, a call that timed out, a state write that lost a race with a reactivation.</summary>
    private static bool IsTransient(Exception e) => e is SiloUnavailableException
        or OrleansMessageRejectionException
        or Orleans.Runtime.Messaging.ConnectionFailedException
        or GatewayTooBusyException
        or TimeoutException
        or Orleans.Storage.InconsistentStateException;

    /// <summary>The methods a route has, for the <c>Allow</c> header of a 405.</summary>
    private static string Allowed(OciRoute route) => route switch
    {
        OciRoute.Base => "GET, HEAD",
        OciRoute.Manifest => "GET, HEAD, PUT, DELETE",
        OciRoute.Blob => "GET, HEAD, DELETE",
        OciRoute.UploadStart => "POST",
        OciRoute.Upload => "GET, PATCH, PUT, DELETE",
        _ => "GET",
    };

    private static string Truncate(string name) => name.Length <= 300 ? name : name[..300] + "…";
}
