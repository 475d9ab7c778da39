using System.Globalization;
using System.Text.Json;
using Registry.Api.Kube;
using Registry.Api.Oci;
using Registry.Grains;

namespace Registry.Api.Images;

/// <summary>
/// An ImageStream create (POST) or update (PUT, or a patch's result), read and checked: the
/// stream, the resourceVersion the caller read (as the repository's change sequence), labels,
/// annotations and spec tags. Anything it cannot use is refused as a Kubernetes Status before
/// anything is looked up; <c>status</c> and <c>spec.lookupPolicy</c> are ignored (the server owns them).
/// </summary>
public sealed record ImageStreamRequest(
    string Stream,
    string Repository,
    long? ExpectedSequence,
    IReadOnlyDictionary<string, string>? Labels,
    IReadOnlyDictionary<string, string>? Annotations,
    IReadOnlyList<SpecTag> Tags)
{
    public const string Kind = "ImageStream";

    /// <summary>The longest <c>from.name</c> of a <c>DockerImage</c> source (a pull spec) that is stored.</summary>
    public const int MaxPullSpecLength = 1024;

    /// <param name="urlName">The stream of the URL for an update; null for a create (the name comes from the body).</param>
    public static async Task<(ImageStreamRequest? Request, KubeStatus? Error)> ReadAsync(HttpRequest request, string ns, string? urlName, int maxBytes, CancellationToken ct)
    {
        var (body, refused) = await Services.KubeRequestBodies.ReadImageJsonAsync(request, $"an ImageStream {(urlName is null ? "create" : "update")}", maxBytes, ct);
        return body is null ? (null, refused) : Parse(body, ns, urlName);
    }

    public static (ImageStreamRequest? Request, KubeStatus? Error) Parse(ReadOnlyMemory<byte> body, string ns, string? urlName)
        => Services.KubeRequestBodies.ParseObject(body, Kind, root => Check(root, ns, urlName));

    private static (ImageStreamRequest?, KubeStatus?) Check(JsonElement root, string ns, string? urlName)
    {
        var display = urlName ?? "";
        KubeStatus Invalid(string field, string detail)
            => KubeStatus.Invalid($"{Kind}.{ImageObjects.Group} \"{display}\" is invalid: {field}: {detail}")
                .WithDetails(new StatusDetails(display, ImageObjects.Group, Kind, [new StatusCause("FieldValueInvalid", $"{field}: {detail}")]));

        if (Text(root, "kind") != Kind)
        {
            return (null, Invalid("kind", $"Invalid value: the body must be an {Kind}"));
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

        if (name is null or "")
        {
            return (null, Invalid("metadata.name", "Required value: name the ImageStream (generateName is not served)"));
        }

        if (ImageNames.RepositoryOf(ns, name) is not { } repository)
        {
            return (null, Invalid("metadata.name", $"Invalid value: \"{name}\": the namespace and the name, with '~' for '/', must make a repository name"));
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

        var (labels, badLabels) = metadata is { } l ? StringMap(l, "labels") : (null, false);
        if (badLabels)
        {
            return (null, Invalid("metadata.labels", "Invalid value: labels map names to strings"));
        }

        var (annotations, badAnnotations) = metadata is { } a ? StringMap(a, "annotations") : (null, false);
        if (badAnnotations)
        {
            return (null, Invalid("metadata.annotations", "Invalid value: annotations map names to strings"));
        }

        var tags = new List<SpecTag>();
        if (root.TryGetProperty("spec", out var spec) && spec.ValueKind != JsonValueKind.Null)
        {
            if (spec.ValueKind != JsonValueKind.Object)
            {
                return (null, Invalid("spec", "Invalid value: must be an object"));
            }

            if (spec.TryGetProperty("tags", out var list) && list.ValueKind != JsonValueKind.Null)
            {
                if (list.ValueKind != JsonValueKind.Array)
                {
                    return (null, Invalid("spec.tags", "Invalid value: must be a list of TagReference"));
                }

                var i = 0;
                foreach (var item in list.EnumerateArray())
                {
                    var (tag, field, problem) = SpecTagOf(item, ns, name, $"spec.tags[{i++}]");
                    if (tag is null)
                    {
                        return (null, Invalid(field!, problem!));
                    }

                    if (tags.Exists(t => t.Name == tag.Name))
                    {
                        return (null, Invalid(field!, $"Duplicate value: \"{tag.Name}\""));
                    }

                    tags.Add(tag);
                }
            }
        }

        return (new ImageStreamRequest(name, repository, expected, labels, annotations, tags), null);
    }

    /// <summary>One TagReference of <c>spec.tags</c> (or an ImageStreamTag's <c>tag</c>, whose name may be left to <paramref name="tagName"/>); or the field at fault and why.</summary>
    internal static (SpecTag? Tag, string? Field, string? Problem) SpecTagOf(JsonElement item, string ns, string stream, string at, string? tagName = null)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            return (null, at, "Invalid value: must be a TagReference object");
        }

        var name = Text(item, "name") ?? tagName;
        if (name is null or "")
        {
            return (null, $"{at}.name", "Required value");
        }

        if (!References.IsValidTag(name))
        {
            return (null, $"{at}.name", $"Invalid value: \"{name}\": a tag is 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'");
        }

        at = tagName is null ? $"spec.tags[{name}]" : at;
        var (annotations, badAnnotations) = StringMap(item, "annotations");
        if (badAnnotations)
        {
            return (null, $"{at}.annotations", "Invalid value: annotations map names to strings");
        }

        SpecTagFrom? from = null;
        if (item.TryGetProperty("from", out var source) && source.ValueKind != JsonValueKind.Null)
        {
            if (source.ValueKind != JsonValueKind.Object)
            {
                return (null, $"{at}.from", "Invalid value: must be an ObjectReference");
            }

            var kind = Text(source, "kind");
            var fromName = Text(source, "name");
            var fromNamespace = Text(source, "namespace") is { Length: > 0 } given ? given : null;
            if (kind is not (SpecTag.ImageStreamTag or SpecTag.ImageStreamImage or SpecTag.DockerImage))
            {
                return (null, $"{at}.from.kind", $"Unsupported value: \"{kind}\": supported values: \"{SpecTag.ImageStreamTag}\", \"{SpecTag.ImageStreamImage}\", \"{SpecTag.DockerImage}\"");
            }

            if (fromName is null or "")
            {
                return (null, $"{at}.from.name", "Required value");
            }

            if (fromNamespace is not null && !ImageNames.IsNamespace(fromNamespace))
            {
                return (null, $"{at}.from.namespace", $"Invalid value: \"{fromNamespace}\" is not a namespace");
            }

            var valid = kind switch
            {
                SpecTag.DockerImage => fromName.Length <= MaxPullSpecLength && !fromName.Any(char.IsWhiteSpace),
                _ => SourceOf(new SpecTagFrom(kind, fromName, fromNamespace), ns, stream) is not null,
            };
            if (!valid)
            {
                return (null, $"{at}.from.name", kind switch
                {
                    SpecTag.ImageStreamTag => $"Invalid value: \"{fromName}\": use <tag> or <stream>:<tag>",
                    SpecTag.ImageStreamImage => $"Invalid value: \"{fromName}\": use <digest> or <stream>@<digest or a prefix of it>",
                    _ => $"Invalid value: a pull spec of at most {MaxPullSpecLength} characters without spaces",
                });
            }

            from = new SpecTagFrom(kind, fromName, fromNamespace);
        }

        if (!Flag(item, "reference", out var reference))
        {
            return (null, $"{at}.reference", "Invalid value: must be a boolean");
        }

        var insecure = false;
        var scheduled = false;
        var importMode = "Legacy";
        if (Child(item, "importPolicy") is { } import)
        {
            if (!Flag(import, "insecure", out insecure) || !Flag(import, "scheduled", out scheduled))
            {
                return (null, $"{at}.importPolicy", "Invalid value: insecure and scheduled are booleans");
            }

            if (Text(import, "importMode") is { Length: > 0 } mode)
            {
                if (mode is not ("Legacy" or "PreserveOriginal"))
                {
                    return (null, $"{at}.importPolicy.importMode", $"Unsupported value: \"{mode}\": supported values: \"Legacy\", \"PreserveOriginal\"");
                }

                importMode = mode;
            }
        }

        var policy = "Source";
        if (Child(item, "referencePolicy") is { } referencePolicy && Text(referencePolicy, "type") is { Length: > 0 } policyType)
        {
            if (policyType is not ("Source" or "Local"))
            {
                return (null, $"{at}.referencePolicy.type", $"Unsupported value: \"{policyType}\": supported values: \"Source\", \"Local\"");
            }

            policy = policyType;
        }

        // generation is the server's: it is set when the tag changes.
        return (new SpecTag(name, annotations, from, reference, null, insecure, scheduled, importMode, policy), null, null);
    }

    /// <summary>
    /// The image or tag a spec tag's <c>from</c> names, in namespace <paramref name="ns"/> of stream
    /// <paramref name="stream"/> unless it says otherwise; null for a <c>DockerImage</c> or a name that names none.
    /// </summary>
    public static TagSource? SourceOf(SpecTagFrom from, string ns, string stream)
    {
        var fromNamespace = from.Namespace ?? ns;
        return from.Kind switch
        {
            SpecTag.ImageStreamImage => ImageNames.SplitImage(from.Name.Contains('@', StringComparison.Ordinal) ? from.Name : $"{stream}@{from.Name}") is { } image
                && ImageNames.RepositoryOf(fromNamespace, image.Stream) is { } repository
                    ? new TagSource(true, fromNamespace, image.Stream, repository, image.Id)
                    : null,
            SpecTag.ImageStreamTag => ImageNames.SplitTag(from.Name.Contains(':', StringComparison.Ordinal) ? from.Name : $"{stream}:{from.Name}") is { } tag
                && ImageNames.RepositoryOf(fromNamespace, tag.Stream) is { } repository
                    ? new TagSource(false, fromNamespace, tag.Stream, repository, tag.Tag)
                    : null,
            _ => null,
        };
    }

    /// <summary>A map of strings, or (null, false) when absent or null; (null, true) when it is not one.</summary>
    private static (IReadOnlyDictionary<string, string>? Map, bool Bad) StringMap(JsonElement element, string property)
    {
        if (!element.TryGetProperty(property, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return (null, false);
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            return (null, true);
        }

        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String || entry.Name.Length == 0)
            {
                return (null, true);
            }

            map[entry.Name] = entry.Value.GetString()!;
        }

        return (map.Count == 0 ? null : map, false);
    }

    /// <summary>A boolean property (false when absent or null); false when it is something else.</summary>
    private static bool Flag(JsonElement element, string property, out bool value)
    {
        value = false;
        if (!element.TryGetProperty(property, out var found) || found.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (found.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            return false;
        }

        value = found.GetBoolean();
        return true;
    }

    private static string? Text(JsonElement element, string property)
        => element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static JsonElement? Child(JsonElement element, string property)
        => element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.Object ? value : null;
}
