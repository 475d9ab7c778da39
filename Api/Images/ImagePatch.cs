using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Registry.Api.Kube;

namespace Registry.Api.Images;

/// <summary>How a PATCH body is to be applied.</summary>
public enum PatchType
{
    /// <summary><c>application/merge-patch+json</c> (RFC 7386).</summary>
    Merge,

    /// <summary><c>application/strategic-merge-patch+json</c>: a merge patch whose keyed lists merge by key.</summary>
    Strategic,

    /// <summary><c>application/json-patch+json</c> (RFC 6902): a list of operations.</summary>
    Json,
}

/// <summary>A PATCH body, read and parsed.</summary>
public sealed record ImagePatchBody(PatchType Type, JsonNode Body);

/// <summary>
/// A PATCH of an image API object: a JSON merge patch (RFC 7386), a strategic merge patch (a merge
/// patch whose keyed lists, such as an ImageStream's <c>spec.tags</c> by <c>name</c>, merge element by
/// element, with the <c>$patch: delete</c>/<c>replace</c> and <c>$setElementOrder</c> directives kubectl
/// sends; any other directive is refused rather than ignored) or a JSON patch (RFC 6902). Apply is not served (415).
/// </summary>
public static class ImagePatch
{
    public const string MergePatch = "application/merge-patch+json";
    public const string StrategicMergePatch = "application/strategic-merge-patch+json";
    public const string JsonPatch = "application/json-patch+json";

    /// <summary>At most this many operations in a JSON patch.</summary>
    public const int MaxOperations = 1000;

    /// <summary>The lists of an ImageStream merged by key in a strategic merge patch: path → key.</summary>
    public static readonly IReadOnlyDictionary<string, string> ImageStreamKeys = new Dictionary<string, string>(StringComparer.Ordinal) { ["spec.tags"] = "name" };

    /// <summary>No list is merged by key.</summary>
    public static readonly IReadOnlyDictionary<string, string> NoKeys = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The patch of the request body, bounded by <paramref name="maxBytes"/>; or the Status refusing it.</summary>
    public static async Task<(ImagePatchBody? Patch, KubeStatus? Error)> ReadAsync(HttpRequest request, int maxBytes, CancellationToken ct)
    {
        var type = MediaTypeHeaderValue.TryParse(request.ContentType, out var parsed) ? parsed.MediaType : null;
        PatchType? kind = type?.ToLowerInvariant() switch
        {
            MergePatch => PatchType.Merge,
            StrategicMergePatch => PatchType.Strategic,
            JsonPatch => PatchType.Json,
            _ => null,
        };
        if (kind is null)
        {
            return (null, KubeStatus.UnsupportedMediaType($"the patch must be {JsonPatch}, {MergePatch} or {StrategicMergePatch}, not \"{request.ContentType}\" (apply is not served)"));
        }

        if (request.ContentLength > maxBytes || await Services.RequestBodies.ReadBoundedAsync(request.Body, maxBytes, ct) is not { } body)
        {
            return (null, KubeStatus.RequestEntityTooLarge($"the request body is larger than {maxBytes} bytes (Registry:ImageApi:MaxRequestBytes)"));
        }

        JsonNode? node;
        try
        {
            node = JsonNode.Parse(body);
        }
        catch (JsonException e)
        {
            return (null, KubeStatus.BadRequest($"the patch is not valid JSON: {e.Message}"));
        }

        return (kind, node) switch
        {
            (PatchType.Json, JsonArray { Count: > MaxOperations }) => (null, KubeStatus.RequestEntityTooLarge($"a JSON patch has at most {MaxOperations} operations")),
            (PatchType.Json, JsonArray operations) => (new ImagePatchBody(PatchType.Json, operations), null),
            (PatchType.Json, _) => (null, KubeStatus.BadRequest("a JSON patch must be a JSON array of operations")),
            (_, JsonObject patch) => (new ImagePatchBody(kind.Value, patch), null),
            _ => (null, KubeStatus.BadRequest("the patch must be a JSON object")),
        };
    }

    /// <summary>
    /// <paramref name="patch"/> applied to <paramref name="current"/> (an object as a GET returns
    /// it): the result, or the Status refusing it (a bad operation or directive, or a result grown by more than <paramref name="maxBytes"/>).
    /// </summary>
    /// <param name="keys">The lists a strategic merge patch merges by key (path → key).</param>
    public static (byte[]? Patched, KubeStatus? Error) Apply(ReadOnlyMemory<byte> current, ImagePatchBody patch, int maxBytes, IReadOnlyDictionary<string, string> keys)
    {
        var target = JsonNode.Parse(current.Span);
        JsonNode? merged;
        try
        {
            merged = patch.Type switch
            {
                PatchType.Merge => Merge(target, patch.Body),
                PatchType.Strategic => Strategic(target, patch.Body, "", keys),
                _ => JsonPatchOperations.Apply(target, (JsonArray)patch.Body, maxBytes),
            };
        }
        catch (PatchException e)
        {
            return (null, e.Status);
        }

        var bytes = Encoding.UTF8.GetBytes(merged?.ToJsonString() ?? "null");

        // A safety net: a patch within the body limit cannot grow the object by more than that limit (a JSON patch's copies are counted as they are made).
        return bytes.Length > (long)current.Length + maxBytes
            ? (null, KubeStatus.RequestEntityTooLarge($"the patched object is larger than {maxBytes} bytes (Registry:ImageApi:MaxRequestBytes)"))
            : (bytes, null);
    }

    /// <summary>RFC 7386: members of an object patch replace (or, when null, remove) those of the target, recursively; anything else replaces it.</summary>
    public static JsonNode? Merge(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject members)
        {
            return patch?.DeepClone();
        }

        var result = target as JsonObject ?? [];
        foreach (var (name, value) in members)
        {
            // Detached before it is merged: a node may have one parent only.
            result.TryGetPropertyValue(name, out var existing);
            result.Remove(name);
            if (value is not null)
            {
                result[name] = Merge(existing, value);
            }
        }

        return result;
    }

    /// <summary>A strategic merge: as <see cref="Merge"/>, but the lists of <paramref name="keys"/> merge element by element.</summary>
    private static JsonNode? Strategic(JsonNode? target, JsonNode? patch, string path, IReadOnlyDictionary<string, string> keys)
    {
        if (patch is not JsonObject members)
        {
            return patch?.DeepClone();
        }

        var result = target as JsonObject ?? [];
        var orders = new List<(string Field, JsonNode? Order)>();
        foreach (var (name, value) in members)
        {
            var at = path.Length == 0 ? name : $"{path}.{name}";
            if (name.StartsWith("$setElementOrder/", StringComparison.Ordinal) && keys.ContainsKey(path.Length == 0 ? name[17..] : $"{path}.{name[17..]}"))
            {
                orders.Add((name[17..], value));
                continue;
            }

            if (name.StartsWith('$'))
            {
                throw new PatchException(KubeStatus.Invalid($"the strategic merge patch directive \"{name}\" is not served here{(path.Length > 0 ? $" (at {path})" : "")}: use a plain merge patch"));
            }

            result.TryGetPropertyValue(name, out var existing);
            result.Remove(name);
            if (value is null)
            {
                continue;
            }

            result[name] = keys.TryGetValue(at, out var key) && value is JsonArray list
                ? MergeList(existing as JsonArray, list, key, at, keys)
                : Strategic(existing, value, at, keys);
        }

        foreach (var (field, order) in orders)
        {
            if (result[field] is JsonArray list && order is JsonArray wanted)
            {
                var key = keys[path.Length == 0 ? field : $"{path}.{field}"];
                var names = wanted.Select(w => KeyOf(w, key)).ToList();
                var sorted = list.Select(e => e?.DeepClone()).OrderBy(e => names.IndexOf(KeyOf(e, key)) is var i and >= 0 ? i : int.MaxValue).ToArray();
                result[field] = new JsonArray(sorted);
            }
        }

        return result;
    }

    /// <summary>Merges a keyed list: an element with a key that exists merges into it, one with <c>$patch: delete</c> removes it, a new one is added; <c>{"$patch":"replace"}</c> makes the patch's elements the list.</summary>
    private static JsonArray MergeList(JsonArray? existing, JsonArray patch, string key, string path, IReadOnlyDictionary<string, string> keys)
    {
        var replace = patch.Any(e => e is JsonObject o && o.Count == 1 && Directive(o) == "replace");
        var result = replace || existing is null ? [] : existing.Select(e => e?.DeepClone()).ToList();
        foreach (var element in patch)
        {
            if (element is not JsonObject item)
            {
                throw new PatchException(KubeStatus.Invalid($"the elements of {path} are objects merged by {key}"));
            }

            var directive = Directive(item);
            if (directive == "replace" && item.Count == 1)
            {
                continue;
            }

            if (KeyOf(item, key) is not { } name)
            {
                throw new PatchException(KubeStatus.Invalid($"an element of {path} in a strategic merge patch needs its {key}"));
            }

            var at = result.FindIndex(e => KeyOf(e, key) == name);
            switch (directive)
            {
                case "delete":
                    if (at >= 0)
                    {
                        result.RemoveAt(at);
                    }

                    break;
                case null or "merge":
                    var body = (JsonObject)item.DeepClone();
                    body.Remove("$patch");
                    if (at >= 0)
                    {
                        result[at] = Strategic(result[at], body, path, keys);
                    }
                    else
                    {
                        result.Add(Strategic(null, body, path, keys));
                    }

                    break;
                default:
                    throw new PatchException(KubeStatus.Invalid($"the strategic merge patch directive \"$patch: {directive}\" is not served in {path}"));
            }
        }

        return new JsonArray(result.ToArray());
    }

    private static string? Directive(JsonObject item) => item.TryGetPropertyValue("$patch", out var value) && value is JsonValue v && v.TryGetValue<string>(out var text) ? text : null;

    private static string? KeyOf(JsonNode? element, string key)
        => element is JsonObject o && o.TryGetPropertyValue(key, out var value) && value is JsonValue v && v.TryGetValue<string>(out var text) ? text : null;
}

/// <summary>A patch that cannot be applied, with the Status that says why.</summary>
public sealed class PatchException(KubeStatus status) : Exception(status.Reason)
{
    public KubeStatus Status { get; } = status;
}
