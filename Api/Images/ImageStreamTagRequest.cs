using System.Globalization;
using System.Text.Json;
using Registry.Api.Kube;
using Registry.Grains;

namespace Registry.Api.Images;

/// <summary>
/// Where a tag is to point (<c>tag.from</c>): an image of a stream (<see cref="IsImage"/>, by
/// digest or a unique prefix of it) or the current image of a stream's tag.
/// </summary>
public sealed record TagSource(bool IsImage, string Namespace, string Stream, string Repository, string Reference)
{
    /// <summary>The source as its resource names it: <c>stream@id</c> or <c>stream:tag</c>.</summary>
    public string Name => IsImage ? $"{Stream}@{Reference}" : $"{Stream}:{Reference}";
}

/// <summary>
/// An ImageStreamTag create (POST) or update (PUT), read and checked: the target stream and tag,
/// the source, and the resourceVersion the caller read (as the repository's change sequence).
/// Anything it cannot use is refused as a Kubernetes Status before anything is looked up.
/// </summary>
public sealed record ImageStreamTagRequest(string Stream, string Tag, string Repository, TagSource From, long? ExpectedSequence, SpecTag Spec)
{
    public const string Kind = "ImageStreamTag";

    /// <param name="urlName">The <c>stream:tag</c> of the URL for an update; null for a create (the name comes from the body).</param>
    public static async Task<(ImageStreamTagRequest? Request, KubeStatus? Error)> ReadAsync(HttpRequest request, string ns, string? urlName, int maxBytes, CancellationToken ct)
    {
        var (body, refused) = await Services.KubeRequestBodies.ReadImageJsonAsync(request, $"an ImageStreamTag {(urlName is null ? "create" : "update")}", maxBytes, ct);
        return body is null ? (null, refused) : Parse(body, ns, urlName);
    }

    /// <summary>An ImageStreamTag read from JSON already in hand (the result of a patch, or a request body).</summary>
    public static (ImageStreamTagRequest? Request, KubeStatus? Error) Parse(ReadOnlyMemory<byte> body, string ns, string? urlName)
        => Services.KubeRequestBodies.ParseObject(body, Kind, root => Check(root, ns, urlName));

    private static (ImageStreamTagRequest?, KubeStatus?) Check(JsonElement root, string ns, string? urlName)
    {
        var display = urlName ?? "";
        KubeStatus Invalid(string field, string detail) => KubeStatus.Invalid($"{Kind}.{ImageObjects.Group} \"{display}\" is invalid: {field}: {detail}");

        if (Text(root, "kind") != Kind)
        {
            return (null, Invalid("kind", $"Invalid value: the body must be a {Kind}"));
        }

        if (Text(root, "apiVersion") != ImageObjects.ApiVersion)
        {
            return (null, Invalid("apiVersion", $"Invalid value: must be {ImageObjects.ApiVersion}"));
        }

        var metadata = Child(root, "metadata");
        var name = metadata is { } m ? Text(m, "name") : null;
        if (urlName is not null && name is not null && name != urlName)
        {
            return (null, KubeStatus.BadRequest($"the name of the object ({name}) does not match the name on the URL ({urlName})"));
        }

        name ??= urlName;
        display = name ?? "";
        if (metadata is { } meta && Text(meta, "namespace") is { Length: > 0 } bodyNamespace && bodyNamespace != ns)
        {
            return (null, KubeStatus.BadRequest($"the namespace of the object ({bodyNamespace}) does not match the namespace on the URL ({ns})"));
        }

        if (name is null)
        {
            return (null, Invalid("metadata.name", "Required value: name an ImageStreamTag <stream>:<tag>"));
        }

        if (ImageNames.SplitTag(name) is not { } split || ImageNames.RepositoryOf(ns, split.Stream) is not { } repository)
        {
            return (null, Invalid("metadata.name", "Invalid value: use <stream>:<tag>, where the stream with '~' for '/' and the namespace before it make a repository name"));
        }

        long? expected = null;
        if (metadata is { } withVersion && Text(withVersion, "resourceVersion") is { Length: > 0 } version)
        {
            if (!long.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) || parsed < 1)
            {
                return (null, Invalid("metadata.resourceVersion", $"Invalid value: \"{version}\" is not a resourceVersion this server gave"));
            }

            expected = ImageObjects.Position(parsed);
        }

        if (Child(root, "tag") is not { } tag)
        {
            return (null, Invalid("tag", "Required value: tag.from names the image the tag points at"));
        }

        if (Text(tag, "name") is { } tagName && tagName != split.Tag)
        {
            return (null, Invalid("tag.name", $"Invalid value: \"{tagName}\" must be the tag of metadata.name ({split.Tag})"));
        }

        if (Child(tag, "from") is not { } from)
        {
            return (null, Invalid("tag.from", "Required value: the ImageStreamImage or ImageStreamTag the tag points at"));
        }

        var fromNamespace = Text(from, "namespace") is { Length: > 0 } given ? given : ns;
        if (!ImageNames.IsNamespace(fromNamespace))
        {
            return (null, Invalid("tag.from.namespace", $"Invalid value: \"{fromNamespace}\" is not a namespace"));
        }

        var source = (Text(from, "kind"), Text(from, "name")) switch
        {
            (_, null or "") => null,
            ("ImageStreamImage", { } image) => ImageSource(fromNamespace, image.Contains('@', StringComparison.Ordinal) ? image : $"{split.Stream}@{image}"),
            ("ImageStreamTag", { } other) => TagSource(fromNamespace, other.Contains(':', StringComparison.Ordinal) ? other : $"{split.Stream}:{other}"),
            _ => null,
        };
        if (Text(from, "kind") is not ("ImageStreamImage" or "ImageStreamTag"))
        {
            return (null, Invalid("tag.from.kind", $"Unsupported value: \"{Text(from, "kind")}\": supported values: \"ImageStreamImage\", \"ImageStreamTag\""));
        }

        if (source is null)
        {
            return (null, Invalid("tag.from.name", $"Invalid value: \"{Text(from, "name")}\": use <stream>@<digest or a prefix of it> for an ImageStreamImage, <stream>:<tag> for an ImageStreamTag"));
        }

        // The rest of the TagReference (annotations, reference, import and reference policies) is kept as the stream's spec tag.
        var (spec, field, problem) = ImageStreamRequest.SpecTagOf(tag, ns, split.Stream, "tag", split.Tag);
        return spec is null
            ? (null, Invalid(field!, problem!))
            : (new ImageStreamTagRequest(split.Stream, split.Tag, repository, source, expected, spec), null);
    }

    private static TagSource? ImageSource(string ns, string name)
        => ImageNames.SplitImage(name) is { } image && ImageNames.RepositoryOf(ns, image.Stream) is { } repository
            ? new TagSource(true, ns, image.Stream, repository, image.Id)
            : null;

    private static TagSource? TagSource(string ns, string name)
        => ImageNames.SplitTag(name) is { } tag && ImageNames.RepositoryOf(ns, tag.Stream) is { } repository
            ? new TagSource(false, ns, tag.Stream, repository, tag.Tag)
            : null;

    /// <summary>A string property, or null when it is absent or not a string.</summary>
    private static string? Text(JsonElement element, string property)
        => element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>An object property, or null when it is absent, null or not an object.</summary>
    private static JsonElement? Child(JsonElement element, string property)
        => element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.Object ? value : null;
}
