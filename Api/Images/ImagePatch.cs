using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Registry.Api.Kube;

namespace Registry.Api.Images;

/// <summary>
/// A PATCH of an image API object: a JSON merge patch (RFC 7386). A strategic merge patch is the
/// same for these types (they hold no lists merged by key), so it is applied as one, and its
/// <c>$</c> directives are refused rather than ignored. JSON patch and apply are not served (415).
/// </summary>
public static class ImagePatch
{
    public const string MergePatch = "application/merge-patch+json";
    public const string StrategicMergePatch = "application/strategic-merge-patch+json";

    /// <summary>The patch of the request body, bounded by <paramref name="maxBytes"/>; or the Status refusing it.</summary>
    public static async Task<(JsonObject? Patch, KubeStatus? Error)> ReadAsync(HttpRequest request, int maxBytes, CancellationToken ct)
    {
        var type = MediaTypeHeaderValue.TryParse(request.ContentType, out var parsed) ? parsed.MediaType : null;
        var strategic = string.Equals(type, StrategicMergePatch, StringComparison.OrdinalIgnoreCase);
        if (!strategic && !string.Equals(type, MergePatch, StringComparison.OrdinalIgnoreCase))
        {
            return (null, KubeStatus.UnsupportedMediaType($"the patch must be {MergePatch} or {StrategicMergePatch}, not \"{request.ContentType}\" (JSON patch and apply are not served)"));
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

        if (node is not JsonObject patch)
        {
            return (null, KubeStatus.BadRequest("the patch must be a JSON object"));
        }

        if (strategic && Directive(patch) is { } directive)
        {
            return (null, KubeStatus.Invalid($"the strategic merge patch directive \"{directive}\" is not served for image API objects: use a plain merge patch"));
        }

        return (patch, null);
    }

    /// <summary>
    /// <paramref name="patch"/> merged into <paramref name="current"/> (an object as a GET returns
    /// it): the result, or the Status refusing it when it grew by more than <paramref name="maxBytes"/>.
    /// </summary>
    public static (byte[]? Patched, KubeStatus? Error) Apply(ReadOnlyMemory<byte> current, JsonObject patch, int maxBytes)
    {
        var target = JsonNode.Parse(current.Span);
        var merged = Merge(target, patch);
        var bytes = Encoding.UTF8.GetBytes(merged?.ToJsonString() ?? "null");

        // A safety net: a patch within the body limit cannot grow the object by more than that limit.
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

    private static string? Directive(JsonObject node)
    {
        foreach (var (name, value) in node)
        {
            if (name.StartsWith('$'))
            {
                return name;
            }

            if (value is JsonObject child && Directive(child) is { } nested)
            {
                return nested;
            }
        }

        return null;
    }
}
