using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Registry.Api.Kube;
using Registry.Api.Oci;
using Registry.Grains;

namespace Registry.Api.Images;

/// <summary>
/// <c>POST …/namespaces/{ns}/imagestreammappings</c>: tags an image the stream already holds, as a
/// push by tag would (a history entry and a push event). What the reference registry does after
/// each push; here the manifest must have been pushed by digest first, since an image is not
/// created from the body. Answers a Status of success, as the reference does.
/// </summary>
public sealed class ImageStreamMappings(IGrainFactory grains, ImageStreamWriter writer, ImageTagGuard tagGuard, IImageApiAccess access, IOptions<ImageApiOptions> options, ILogger<ImageStreamMappings> logger)
{
    public const string Resource = "imagestreammappings";
    public const string Kind = "ImageStreamMapping";

    /// <summary>The tag a mapping without one names, as the reference defaults it.</summary>
    public const string DefaultTag = "latest";

    public async Task<IResult> HandleAsync(HttpContext context, string ns)
    {
        if (context.Request.Method != "POST")
        {
            return KubeStatus.MethodNotAllowed($"{context.Request.Method} is not supported on {Resource} (only POST: a mapping is created, never stored as an object)").WithHeader("Allow", "POST");
        }

        if (!ImageNames.IsNamespace(ns))
        {
            return KubeStatus.BadRequest($"namespace \"{ns}\" is not valid: a namespace of the image API is a DNS label (at most 63 of a-z, 0-9 and '-') and the first component of a repository name");
        }

        // Authenticates first, so an anonymous caller learns nothing from the checks of its body.
        if (await access.CheckAsync(context, ImageAccessNeed.Of(Resource, "create", null, ns)) is { } refused)
        {
            return refused;
        }

        var (mapping, invalid) = await ReadAsync(context.Request, ns, options.Value.MaxRequestBytes, context.RequestAborted);
        if (mapping is null)
        {
            return invalid!;
        }

        var (repository, tag, digest) = mapping.Value;
        if (await access.CheckAsync(context, ImageAccessNeed.Of(Resource, "create", repository, ns)) is { } noPush)
        {
            return noPush;
        }

        var grain = grains.GetGrain<IRepositoryGrain>(repository);
        var stream = ImageNames.StreamOf(repository)!.Value.Name;
        if (await grain.GetImageStream() is null)
        {
            return KubeStatus.NotFound($"imagestreams.{ImageObjects.Group} \"{stream}\" not found");
        }

        var imageMissing = KubeStatus.NotFound($"images.{ImageObjects.Group} \"{digest}\" not found in image stream {ns}/{stream}: push the manifest by digest first");
        if (await grain.GetManifest(digest) is null)
        {
            return imageMissing;
        }

        var mayMove = false;
        if (await grain.ResolveTag(tag) is { } current && current.Digest != digest)
        {
            if (await access.CheckAsync(context, ImageAccessNeed.Of("imagestreamtags", "update", repository, ns)) is { } noOverwrite)
            {
                return noOverwrite;
            }

            mayMove = true;
        }

        writer.StampOrigin(context);
        OciUrls.SetEventTarget(OciUrls.Manifest(repository, digest));
        var result = await tagGuard.TagManifestAsync(repository, new TagMove(tag, digest, MustCreate: false, mayMove, ExpectedSequence: null));
        switch (result.Outcome)
        {
            case TagMoveOutcome.ManifestUnknown:
                return imageMissing;
            case TagMoveOutcome.Moved:
                break;
            case TagMoveOutcome.Immutable:
                return ImageTagGuard.Refused(repository, tag, result.Rule, stream, "imagestreams");
            default:
                // Only a tag moved elsewhere between the check and the move gets here.
                return KubeStatus.Conflict($"Operation cannot be fulfilled on imagestreams.{ImageObjects.Group} \"{stream}\": tag {tag} was moved meanwhile; retry");
        }

        MappingLog.Mapped(logger, repository, tag, digest);
        return ImageStreamWriter.Success(stream, Resource, 201);
    }

    /// <summary>The repository, tag and digest of a mapping body, or the Status refusing it.</summary>
    public static async Task<((string Repository, string Tag, string Digest)? Mapping, KubeStatus? Error)> ReadAsync(HttpRequest request, string ns, int maxBytes, CancellationToken ct)
    {
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var type) || !string.Equals(type.MediaType, "application/json", StringComparison.OrdinalIgnoreCase))
        {
            return (null, KubeStatus.UnsupportedMediaType($"the body of an {Kind} must be application/json, not \"{request.ContentType}\""));
        }

        if (request.ContentLength > maxBytes || await Services.RequestBodies.ReadBoundedAsync(request.Body, maxBytes, ct) is not { } body)
        {
            return (null, KubeStatus.RequestEntityTooLarge($"the request body is larger than {maxBytes} bytes (Registry:ImageApi:MaxRequestBytes)"));
        }

        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.ValueKind == JsonValueKind.Object
                ? Check(document.RootElement, ns)
                : (null, KubeStatus.BadRequest($"the request body must be a JSON object (an {Kind})"));
        }
        catch (JsonException e)
        {
            return (null, KubeStatus.BadRequest($"the request body is not valid JSON: {e.Message}"));
        }
    }

    private static ((string, string, string)?, KubeStatus?) Check(JsonElement root, string ns)
    {
        var metadata = Child(root, "metadata");
        var name = metadata is { } m ? Text(m, "name") : null;
        KubeStatus Invalid(string field, string detail) => KubeStatus.Invalid($"{Kind}.{ImageObjects.Group} \"{name}\" is invalid: {field}: {detail}");

        if (Text(root, "kind") != Kind)
        {
            return (null, Invalid("kind", $"Invalid value: the body must be an {Kind}"));
        }

        if (Text(root, "apiVersion") != ImageObjects.ApiVersion)
        {
            return (null, Invalid("apiVersion", $"Invalid value: must be {ImageObjects.ApiVersion}"));
        }

        if (metadata is { } meta && Text(meta, "namespace") is { Length: > 0 } bodyNamespace && bodyNamespace != ns)
        {
            return (null, KubeStatus.BadRequest($"the namespace of the object ({bodyNamespace}) does not match the namespace on the URL ({ns})"));
        }

        if (name is null or "")
        {
            return (null, Invalid("metadata.name", "Required value: the image stream to tag in"));
        }

        if (ImageNames.RepositoryOf(ns, name) is not { } repository)
        {
            return (null, Invalid("metadata.name", "Invalid value: the namespace and the name, with '~' for '/', must make a repository name"));
        }

        if (root.TryGetProperty("tag", out var tagValue) && tagValue.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
        {
            return (null, Invalid("tag", "Invalid value: must be a string"));
        }

        var tag = Text(root, "tag") is { Length: > 0 } given ? given : DefaultTag;
        if (!References.IsValidTag(tag))
        {
            return (null, Invalid("tag", $"Invalid value: \"{tag}\" is not a tag (at most 128 of A-Z, a-z, 0-9, '_', '.', '-', not starting with '.' or '-')"));
        }

        var digest = Child(root, "image") is { } image && Child(image, "metadata") is { } imageMeta ? Text(imageMeta, "name") : null;
        if (digest is null or "")
        {
            return (null, Invalid("image.metadata.name", "Required value: the digest of the image to tag"));
        }

        return References.IsValidDigest(digest)
            ? ((repository, tag, digest), null)
            : (null, Invalid("image.metadata.name", $"Invalid value: \"{digest}\" is not a digest (<algorithm>:<hex>)"));
    }

    private static string? Text(JsonElement element, string property)
        => element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static JsonElement? Child(JsonElement element, string property)
        => element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.Object ? value : null;
}

internal static partial class MappingLog
{
    [LoggerMessage(13, LogLevel.Information, "Image API: mapping tags {Repository}:{Tag} as {Digest}")]
    public static partial void Mapped(ILogger logger, string repository, string tag, string digest);
}
