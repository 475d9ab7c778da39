using System.Text.Json.Serialization;
using Registry.Api.Json;

namespace Registry.Api.Kube;

/// <summary>
/// A Kubernetes <c>Status</c> error: the body every <c>/apis</c> endpoint answers a failure with,
/// as kubectl and client-go parse it (<c>reason</c> and <c>code</c> decide what they print and retry).
/// </summary>
public sealed class KubeStatus(int code, string reason, string message) : IResult
{
    private readonly Dictionary<string, string> _headers = [];
    private StatusDetails? _details;

    public int Code => code;

    public string Reason => reason;

    /// <summary>Whether <c>details</c> name what failed (a refusal by a rule, not a stale resourceVersion).</summary>
    public bool HasDetails => _details is not null;

    public static KubeStatus BadRequest(string message) => new(400, "BadRequest", message);

    public static KubeStatus Unauthorized(string message) => new(401, "Unauthorized", message);

    public static KubeStatus Forbidden(string message) => new(403, "Forbidden", message);

    public static KubeStatus NotFound(string message) => new(404, "NotFound", message);

    public static KubeStatus MethodNotAllowed(string message) => new(405, "MethodNotAllowed", message);

    public static KubeStatus AlreadyExists(string message) => new(409, "AlreadyExists", message);

    public static KubeStatus Conflict(string message) => new(409, "Conflict", message);

    public static KubeStatus Gone(string message) => new(410, "Expired", message);

    public static KubeStatus RequestEntityTooLarge(string message) => new(413, "RequestEntityTooLarge", message);

    public static KubeStatus UnsupportedMediaType(string message) => new(415, "UnsupportedMediaType", message);

    public static KubeStatus Invalid(string message) => new(422, "Invalid", message);

    public static KubeStatus TooManyRequests(string message) => new(429, "TooManyRequests", message);

    public static KubeStatus ServiceUnavailable(string message) => new(503, "ServiceUnavailable", message);

    public KubeStatus WithHeader(string name, string value)
    {
        _headers[name] = value;
        return this;
    }

    /// <summary>Names what failed and why (<c>details.causes</c>), for a client that shows more than the message.</summary>
    public KubeStatus WithDetails(StatusDetails details)
    {
        _details = details;
        return this;
    }

    public Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.StatusCode = code;
        foreach (var (name, value) in _headers)
        {
            response.Headers[name] = value;
        }

        return response.WriteAsJsonAsync(new StatusDocument("Status", "v1", new StatusMeta(), "Failure", message, reason, code, _details), ApiJsonContext.Default.StatusDocument, "application/json", httpContext.RequestAborted);
    }
}

/// <summary>The wire shape of <see cref="KubeStatus"/> (meta/v1 <c>Status</c>).</summary>
public sealed record StatusDocument(
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("apiVersion")] string ApiVersion,
    [property: JsonPropertyName("metadata")] StatusMeta Metadata,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("reason")] string Reason,
    [property: JsonPropertyName("code")] int Code,
    [property: JsonPropertyName("details"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] StatusDetails? Details = null);

public sealed record StatusMeta;

/// <summary>meta/v1 <c>StatusDetails</c>: the object a failure is about and its causes.</summary>
public sealed record StatusDetails(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("group")] string Group,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("causes")] IReadOnlyList<StatusCause> Causes);

/// <summary>meta/v1 <c>StatusCause</c>.</summary>
public sealed record StatusCause(
    [property: JsonPropertyName("reason")] string Reason,
    [property: JsonPropertyName("message")] string Message);
