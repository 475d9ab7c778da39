using System.Text.Json;
using Microsoft.Extensions.Options;
using Registry.Api.Kube;
using Registry.Api.Oci;
using Registry.Api.Services;
using Registry.Grains;

namespace Registry.Api.Images;

/// <summary>The stream, tag and image a mapping names; <see cref="Manifest"/> is the body's <c>image.dockerImageManifest</c>, if any.</summary>
public sealed record MappingRequest(string Repository, string Tag, string Digest, byte[]? Manifest, string? ManifestMediaType);

/// <summary>
/// <c>POST …/namespaces/{ns}/imagestreammappings</c>: tags an image in a stream, as a push by tag
/// would (a history entry and a push event), creating the stream when it does not exist. The image
/// is the one the stream holds; else the same manifest of another repository the caller may pull
/// (copied: its blobs mounted, its manifest pushed by digest); else the manifest the body carries
/// (<c>image.dockerImageManifest</c>), whose blobs the stream must hold. Answers a Status of
/// success, as the reference does; a missing image is 404 and stores nothing.
/// </summary>
public sealed class ImageStreamMappings(IGrainFactory grains, ImageStreamWriter writer, ImageStreamReader streams, ManifestService manifests, ImageTagGuard tagGuard, IImageApiAccess access, IOptions<ImageApiOptions> options, ILogger<ImageStreamMappings> logger)
{
    public const string Resource = "imagestreammappings";
    public const string Kind = "ImageStreamMapping";

    /// <summary>The tag a mapping without one names, as the reference defaults it.</summary>
    public const string DefaultTag = "latest";

    /// <summary>At most this many image streams of the mapping's namespace are looked through for the image, beyond the holders its grain names.</summary>
    public const int MaxStreamsSearched = 100;

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

        if (ImageStreamWriter.DryRunRefusal(context) is { } dryRun)
        {
            return dryRun;
        }

        var (mapping, invalid) = await ReadAsync(context.Request, ns, options.Value.MaxRequestBytes, context.RequestAborted);
        if (mapping is null)
        {
            return invalid!;
        }

        var (repository, tag, digest) = (mapping.Repository, mapping.Tag, mapping.Digest);
        if (await access.CheckAsync(context, ImageAccessNeed.Of(Resource, "create", repository, ns)) is { } noPush)
        {
            return noPush;
        }

        var grain = grains.GetGrain<IRepositoryGrain>(repository);
        var stream = ImageNames.StreamOf(repository)!.Value.Name;
        var imageMissing = Missing(digest);

        // Refusals that need no write come before anything is copied or stored.
        var current = (await grain.ResolveTag(tag))?.Digest;
        var mayMove = false;
        if (current is not null && current != digest)
        {
            if (await access.CheckAsync(context, ImageAccessNeed.Of("imagestreamtags", "update", repository, ns)) is { } noOverwrite)
            {
                return noOverwrite;
            }

            mayMove = true;
        }

        // As the grain would refuse the move (it decides again in its turn), answered as it answers.
        if (current is not null && current != digest && (await tagGuard.RulesAsync(repository)).FirstOrDefault(r => r.Protects(tag)) is { } rule)
        {
            return ImageTagGuard.Refused(repository, tag, rule.Name, stream, "imagestreams");
        }

        writer.StampOrigin(context);
        if (await grain.GetManifest(digest) is null && await BringAsync(context, mapping) is { } notBrought)
        {
            return notBrought;
        }

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

    private static KubeStatus Missing(string digest)
        => KubeStatus.NotFound($"images.{ImageObjects.Group} \"{digest}\" not found: push the manifest, or name an image of a stream you may pull, or send it as image.dockerImageManifest");

    /// <summary>
    /// Makes the stream hold the image it does not hold yet: copied from a repository holding it that
    /// the caller may pull, or stored from the body's manifest. Null once it holds it; else the Status.
    /// </summary>
    private async Task<IResult?> BringAsync(HttpContext context, MappingRequest mapping)
    {
        var (repository, digest) = (mapping.Repository, mapping.Digest);
        if (await SourceAsync(context, repository, digest) is { } source)
        {
            var (_, copyError) = await writer.CopyAsync(source, repository, digest, 0, context.RequestAborted);
            if (copyError is null)
            {
                MappingLog.Copied(logger, repository, digest, source);
                return null;
            }

            // The source lost it meanwhile: the body's manifest may still do.
            if (mapping.Manifest is null)
            {
                return copyError;
            }
        }

        if (mapping.Manifest is not { } manifest)
        {
            return Missing(digest);
        }

        var (_, error) = await manifests.PutAsync(repository, digest, manifest, mapping.ManifestMediaType, mayMoveTag: false, context.RequestAborted);
        if (error is null)
        {
            return null;
        }

        return (error.Code == OciErrorCode.ManifestBlobUnknown ? 404 : error.Code.Status) switch
        {
            403 => KubeStatus.Forbidden($"image {digest} may not be stored in {repository}: {error.Detail ?? error.Code.Message}"),
            429 => KubeStatus.TooManyRequests($"image {digest} may not be stored in {repository}: {error.Detail ?? error.Code.Message}"),
            404 => KubeStatus.NotFound($"image {digest} cannot be stored in {repository}: {error.Detail ?? error.Code.Message} (push its blobs to the stream first)"),
            _ => KubeStatus.Invalid($"{Kind}.{ImageObjects.Group} \"{ImageNames.StreamOf(repository)!.Value.Name}\" is invalid: image.dockerImageManifest: Invalid value: {error.Detail ?? error.Code.Message}"),
        };
    }

    /// <summary>
    /// A repository other than <paramref name="target"/> that holds <paramref name="digest"/> and
    /// that the caller may pull: among the holders the image's grain names, then among the first
    /// <see cref="MaxStreamsSearched"/> streams of the target's namespace. Repositories the caller
    /// may not pull are skipped, so a refusal tells nothing of them.
    /// </summary>
    private async Task<string?> SourceAsync(HttpContext context, string target, string digest)
    {
        async Task<bool> UsableAsync(string candidate)
            => candidate != target
                && await access.CheckAsync(context, ImageAccessNeed.Of("imagestreamimages", "get", candidate, ImageNames.StreamOf(candidate)?.Namespace)) is null
                && await grains.GetGrain<IRepositoryGrain>(candidate).GetManifest(digest) is not null;

        var holding = await grains.GetGrain<IImageGrain>(digest).GetHolding();
        foreach (var holder in holding.Repositories)
        {
            if (await UsableAsync(holder))
            {
                return holder;
            }
        }

        var (listed, _) = await streams.ListAsync(ImageNames.StreamOf(target)!.Value.Namespace, null, MaxStreamsSearched, _ => ValueTask.FromResult(true));
        foreach (var candidate in listed.Select(l => l.Repository).Where(r => !holding.Repositories.Contains(r)))
        {
            if (await UsableAsync(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>The stream, tag, image (and the manifest it carries, if any) of a mapping body, or the Status refusing it.</summary>
    public static async Task<(MappingRequest? Mapping, KubeStatus? Error)> ReadAsync(HttpRequest request, string ns, int maxBytes, CancellationToken ct)
    {
        var (body, refused) = await Services.KubeRequestBodies.ReadImageJsonAsync(request, $"an {Kind}", maxBytes, ct);
        return body is null ? (null, refused) : Services.KubeRequestBodies.ParseObject(body, Kind, root => Check(root, ns));
    }

    private static (MappingRequest?, KubeStatus?) Check(JsonElement root, string ns)
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

        if (!References.IsValidDigest(digest))
        {
            return (null, Invalid("image.metadata.name", $"Invalid value: \"{digest}\" is not a digest (<algorithm>:<hex>)"));
        }

        // The manifest itself, as the reference's registry sends it: a JSON document in a string.
        var imageObject = Child(root, "image")!.Value;
        byte[]? manifest = null;
        if (imageObject.TryGetProperty("dockerImageManifest", out var manifestValue) && manifestValue.ValueKind is not JsonValueKind.Null)
        {
            if (manifestValue.ValueKind != JsonValueKind.String || manifestValue.GetString() is not { Length: > 0 } text)
            {
                return (null, Invalid("image.dockerImageManifest", "Invalid value: must be the manifest's JSON as a string"));
            }

            manifest = System.Text.Encoding.UTF8.GetBytes(text);
        }

        return (new MappingRequest(repository, tag, digest, manifest, Text(imageObject, "dockerImageManifestMediaType")), null);
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

    [LoggerMessage(15, LogLevel.Information, "Image API: mapping copies {Digest} into {Repository} from {Source}")]
    public static partial void Copied(ILogger logger, string repository, string digest, string source);
}
