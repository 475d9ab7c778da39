using System.Globalization;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Registry.Api.Kube;

namespace Registry.Api.Images;

/// <summary>
/// <c>/apis/image.openshift.io[/v1/…]</c>: parses the path into a resource request, checks the
/// access it needs (<see cref="IImageApiAccess"/>) and answers it (<see cref="ImageApiHandlers"/>),
/// every failure as a Kubernetes <c>Status</c>.
/// </summary>
public sealed class ImageApiEndpoint(ImageApiHandlers handlers, ImageStreamWatch watch, ImageWatchAcross across, ImageStreamWriter writer, ImageStreamMappings mappings, ImageStreamLayersReader layers, IImageApiAccess access, IOptions<ApiOptions> api, ILogger<ImageApiEndpoint> logger)
{
    public const string Prefix = "/apis/" + ImageObjects.Group;

    private static readonly HashSet<string> NamespacedResources = new(StringComparer.Ordinal) { "imagestreams", "imagestreamtags", "imagestreamimages" };

    public async Task HandleAsync(HttpContext context, string? path)
    {
        IResult result;
        try
        {
            result = await DispatchAsync(context, path ?? "");
        }
        catch (Exception) when (context.RequestAborted.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e) when (e is SiloUnavailableException or OrleansMessageRejectionException or Orleans.Runtime.Messaging.ConnectionFailedException or GatewayTooBusyException or TimeoutException)
        {
            ImageApiLog.Transient(logger, e.GetType().Name, context.Request.Method, context.Request.Path);
            result = KubeStatus.ServiceUnavailable("the cluster is recovering a replica; retry").WithHeader("Retry-After", "1");
        }
        catch (Exception e)
        {
            ImageApiLog.Unhandled(logger, e, context.Request.Method, context.Request.Path);
            result = new KubeStatus(500, "InternalError", "an internal error occurred");
        }

        await result.ExecuteAsync(context);
    }

    private async Task<IResult> DispatchAsync(HttpContext context, string path)
    {
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length == 0)
        {
            return context.Request.Method is "GET" ? ImageApiDiscovery.Json(ImageApiDiscovery.Group, ImageApiJsonContext.Default.ApiGroup) : NotAllowed(context, "GET");
        }

        if (segments[0] != "v1")
        {
            return KubeStatus.NotFound($"the server could not find the requested resource (version {segments[0]} of {ImageObjects.Group} is not served)");
        }

        if (segments.Length == 1)
        {
            return context.Request.Method is "GET" ? ImageApiDiscovery.Json(ImageApiDiscovery.Resources, ImageApiJsonContext.Default.ApiResourceList) : NotAllowed(context, "GET");
        }

        // Mappings (create only) and the layers subresource are answered whole by their own handlers.
        switch (segments[1..])
        {
            case ["namespaces", var mappingNamespace, ImageStreamMappings.Resource]:
                return await mappings.HandleAsync(context, mappingNamespace);
            case ["namespaces", var streamNamespace, "imagestreams", var stream, ImageStreamLayersReader.Subresource]:
                return await layers.HandleAsync(context, streamNamespace, stream);
        }

        if (!TryParse(segments[1..], out var request))
        {
            return KubeStatus.NotFound($"the server could not find the requested resource ({path})");
        }

        if (context.Request.Method != "GET")
        {
            return await writer.HandleAsync(context, request.Resource, request.Namespace, request.Name);
        }

        var watching = IsTrue(context.Request.Query["watch"]);
        if (watching && (request.Resource is not ("imagestreams" or "images") || request.Name is not null))
        {
            return KubeStatus.MethodNotAllowed($"watch is served for image streams (of one namespace or all) and images, not for {request.Resource}{(request.Name is null ? "" : " by name (use fieldSelector=metadata.name=<name>)")}");
        }

        // Names that cannot be a stream (or image) are refused before anything is looked up.
        string? repository = null;
        if (request.Namespace is { } ns && !ImageNames.IsNamespace(ns))
        {
            return KubeStatus.BadRequest($"namespace \"{ns}\" is not valid: a namespace of the image API is a DNS label (at most 63 of a-z, 0-9 and '-') and the first component of a repository name");
        }

        if (request.Name is { } name && request.Resource != "images")
        {
            var stream = request.Resource switch
            {
                "imagestreamtags" => ImageNames.SplitTag(name)?.Stream,
                "imagestreamimages" => ImageNames.SplitImage(name)?.Stream,
                _ => name,
            };
            repository = stream is null ? null : ImageNames.RepositoryOf(request.Namespace!, stream);
            if (repository is null)
            {
                return KubeStatus.BadRequest(request.Resource switch
                {
                    "imagestreamtags" => $"\"{name}\" is not a valid image stream tag name: use <stream>:<tag>, where the stream with '~' for '/' and the namespace before it make a repository name",
                    "imagestreamimages" => $"\"{name}\" is not a valid image stream image name: use <stream>@<digest or a prefix of it>",
                    _ => $"\"{name}\" is not a valid image stream name: the namespace and the name, with '~' for '/', must make a repository name (lowercase components of a-z, 0-9 and '.', '_', '-')",
                });
            }
        }

        var verb = watching ? "watch" : request.Name is null ? "list" : "get";
        if (await access.CheckAsync(context, ImageAccessNeed.Of(request.Resource, verb, repository, request.Namespace)) is { } refused)
        {
            return refused;
        }

        if (watching)
        {
            return request switch
            {
                { Resource: "images" } => await across.RunImagesAsync(context, handlers.Hosts),
                { Namespace: null } => await across.RunStreamsAsync(context, handlers.Hosts),
                _ => await watch.RunAsync(context, request.Namespace!, handlers.Hosts),
            } ?? Results.Empty;
        }

        var table = ImageTables.Wanted(context.Request);
        if (request.Name is { } objectName)
        {
            return request.Resource switch
            {
                "imagestreams" => await handlers.GetStreamAsync(context, repository!, table),
                "imagestreamtags" => await handlers.GetTagAsync(context, repository!, ImageNames.SplitTag(objectName)!.Value.Tag, table),
                "imagestreamimages" => await handlers.GetStreamImageAsync(context, repository!, ImageNames.SplitImage(objectName)!.Value.Id, table),
                _ => await handlers.GetImageAsync(context, objectName, table),
            };
        }

        if (request.Resource == "imagestreamimages")
        {
            return NotAllowed(context, "GET (of one name)");
        }

        var (limit, error) = Limit(context.Request);
        if (error is not null)
        {
            return error;
        }

        var continueFrom = context.Request.Query["continue"].ToString();
        var position = continueFrom.Length == 0 ? [] : ImageStreamReader.DecodeContinue(continueFrom);
        if (position is null || (position.Length > 0 && position.Length != (request.Resource == "images" ? 2 : 1)))
        {
            return KubeStatus.BadRequest($"continue \"{continueFrom}\" is not valid: pass the metadata.continue of the previous page");
        }

        var include = (string r) => Allows(context, request.Resource, r);
        return request.Resource switch
        {
            "imagestreams" => await handlers.ListStreamsAsync(context, request.Namespace, position, limit, include, table),
            "imagestreamtags" => await handlers.ListTagsAsync(context, request.Namespace, position, limit, include, table),
            _ => await handlers.ListImagesAsync(context, position, limit, table),
        };
    }

    private async ValueTask<bool> Allows(HttpContext context, string resource, string repository)
        => await access.CheckAsync(context, ImageAccessNeed.Of(resource, "get", repository)) is null;

    /// <summary>The page size: <c>limit</c>, absent or 0 meaning as many as a page may hold (<c>Registry:Limits:MaxPageSize</c>).</summary>
    private (int Limit, KubeStatus? Error) Limit(HttpRequest request)
    {
        var max = api.Value.Limits.MaxPageSize;
        var text = request.Query["limit"].ToString();
        if (text.Length == 0)
        {
            return (max, null);
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var limit)
            ? ((int)Math.Min(limit == 0 ? max : limit, max), null)
            : (0, KubeStatus.BadRequest($"limit \"{text}\" is not valid: use a non-negative integer"));
    }

    private static bool IsTrue(Microsoft.Extensions.Primitives.StringValues value) => value.ToString() is "true" or "1";

    private static KubeStatus NotAllowed(HttpContext context, string allowed)
        => KubeStatus.MethodNotAllowed($"{context.Request.Method} is not supported here (only {allowed})").WithHeader("Allow", "GET");

    private sealed record ResourceRequest(string Resource, string? Namespace, string? Name);

    /// <summary><c>namespaces/{ns}/{resource}[/{name}]</c>, <c>{namespaced resource}</c> (all namespaces), or <c>images[/{name}]</c>.</summary>
    private static bool TryParse(string[] s, out ResourceRequest request)
    {
        request = s switch
        {
            ["namespaces", var ns, var resource] when NamespacedResources.Contains(resource) => new(resource, ns, null),
            ["namespaces", var ns, var resource, var name] when NamespacedResources.Contains(resource) => new(resource, ns, name),
            [var resource] when NamespacedResources.Contains(resource) || resource == "images" => new(resource, null, null),
            ["images", var name] => new("images", null, name),
            _ => null!,
        };
        return request is not null;
    }
}
