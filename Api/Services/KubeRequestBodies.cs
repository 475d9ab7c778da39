using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Registry.Api.Kube;

namespace Registry.Api.Services;

/// <summary>
/// The start every /apis writer makes on its body: the media type, the bounded read and the
/// parse, each refusal a Kubernetes Status, so that the limits and answers are the same everywhere.
/// </summary>
public static class KubeRequestBodies
{
    /// <summary>
    /// The body of an image API write: application/json of at most <paramref name="maxBytes"/>, or
    /// 415 / 413. <paramref name="what"/> names the write in the refusal ("an ImageStream create").
    /// </summary>
    public static async Task<(byte[]? Body, KubeStatus? Error)> ReadImageJsonAsync(HttpRequest request, string what, int maxBytes, CancellationToken ct)
    {
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var type) || !string.Equals(type.MediaType, "application/json", StringComparison.OrdinalIgnoreCase))
        {
            return (null, KubeStatus.UnsupportedMediaType($"the body of {what} must be application/json, not \"{request.ContentType}\""));
        }

        if (request.ContentLength > maxBytes || await RequestBodies.ReadBoundedAsync(request.Body, maxBytes, ct) is not { } body)
        {
            return (null, KubeStatus.RequestEntityTooLarge($"the request body is larger than {maxBytes} bytes (Registry:ImageApi:MaxRequestBytes)"));
        }

        return (body, null);
    }

    /// <summary>
    /// <paramref name="body"/> parsed as a JSON object and handed to <paramref name="check"/>; 400 when it is
    /// not JSON or not an object (<paramref name="kind"/> names the object expected).
    /// </summary>
    public static (T? Value, KubeStatus? Error) ParseObject<T>(ReadOnlyMemory<byte> body, string kind, Func<JsonElement, (T?, KubeStatus?)> check)
        where T : class
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException e)
        {
            return (null, KubeStatus.BadRequest($"the request body is not valid JSON: {e.Message}"));
        }

        using (document)
        {
            return document.RootElement.ValueKind == JsonValueKind.Object
                ? check(document.RootElement)
                : (null, KubeStatus.BadRequest($"the request body must be a JSON object (an {kind})"));
        }
    }

    /// <summary>
    /// A policy or lifecycle document of at most <paramref name="maxBytes"/> as <typeparamref name="T"/>: 415 when
    /// the body says it is not JSON, 413 when too large, 400 when not JSON of that shape.
    /// </summary>
    public static async Task<(T? Document, KubeStatus? Error)> ReadDocumentAsync<T>(HttpRequest request, JsonTypeInfo<T> type, int maxBytes, CancellationToken ct)
    {
        if (request.ContentType is { } contentType && !contentType.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            return (default, KubeStatus.UnsupportedMediaType($"the body must be application/json, not {contentType}"));
        }

        if (request.ContentLength > maxBytes || await RequestBodies.ReadBoundedAsync(request.Body, maxBytes, ct) is not { } body)
        {
            return (default, KubeStatus.RequestEntityTooLarge($"the body may be at most {maxBytes} bytes"));
        }

        try
        {
            return (JsonSerializer.Deserialize(body, type), null);
        }
        catch (JsonException e)
        {
            return (default, KubeStatus.BadRequest($"the body is not valid JSON of the expected shape: {e.Message}"));
        }
    }
}
