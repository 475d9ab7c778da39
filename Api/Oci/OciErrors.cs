using System.Text.Json;
using Registry.Api.Json;

namespace Registry.Api.Oci;

/// <summary>A registered OCI error: its code, its message and the HTTP status it travels with.</summary>
public sealed record OciErrorCode(string Code, string Message, int Status)
{
    public OciError WithDetail(string? detail = null) => new(this, detail);

    public static readonly OciErrorCode BlobUnknown = new("BLOB_UNKNOWN", "blob unknown to registry", 404);
    public static readonly OciErrorCode BlobUploadInvalid = new("BLOB_UPLOAD_INVALID", "blob upload invalid", 400);
    public static readonly OciErrorCode BlobUploadUnknown = new("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", 404);
    public static readonly OciErrorCode DigestInvalid = new("DIGEST_INVALID", "provided digest did not match uploaded content", 400);
    public static readonly OciErrorCode ManifestBlobUnknown = new("MANIFEST_BLOB_UNKNOWN", "manifest references a manifest or blob unknown to registry", 400);
    public static readonly OciErrorCode ManifestInvalid = new("MANIFEST_INVALID", "manifest invalid", 400);
    public static readonly OciErrorCode ManifestTooLarge = new("SIZE_INVALID", "manifest exceeds the size limit", 413);
    public static readonly OciErrorCode ManifestUnknown = new("MANIFEST_UNKNOWN", "manifest unknown to registry", 404);
    public static readonly OciErrorCode NameInvalid = new("NAME_INVALID", "invalid repository name", 400);
    public static readonly OciErrorCode NameUnknown = new("NAME_UNKNOWN", "repository name not known to registry", 404);
    public static readonly OciErrorCode SizeInvalid = new("SIZE_INVALID", "provided length did not match content length", 400);
    public static readonly OciErrorCode Unauthorized = new("UNAUTHORIZED", "authentication required", 401);
    public static readonly OciErrorCode Denied = new("DENIED", "requested access to the resource is denied", 403);
    public static readonly OciErrorCode ScopeInvalid = new("UNSUPPORTED", "invalid scope", 400);
    public static readonly OciErrorCode Unsupported = new("UNSUPPORTED", "the operation is unsupported", 405);
    public static readonly OciErrorCode TooManyRequests = new("TOOMANYREQUESTS", "too many requests", 429);
    public static readonly OciErrorCode RangeInvalid = new("RANGE_INVALID", "invalid content range", 416);
    public static readonly OciErrorCode PaginationNumberInvalid = new("PAGINATION_NUMBER_INVALID", "invalid number of results requested", 400);
    public static readonly OciErrorCode TagInvalid = new("TAG_INVALID", "manifest tag did not match URI", 400);
    /// <summary>An immutable tag rule refuses the change (docs/immutable-tags.md); the code other registries answer it with.</summary>
    public static readonly OciErrorCode Precondition = new("PRECONDITION", "precondition failed", 412);
    public static readonly OciErrorCode Unavailable = new("UNAVAILABLE", "service unavailable", 503);

    /// <summary>The disk or quota is full: 507 rather than 503, so clients do not retry a write that cannot succeed until an operator acts (docs/api.md).</summary>
    public static readonly OciErrorCode InsufficientStorage = new("UNAVAILABLE", "insufficient storage", 507);
    public static readonly OciErrorCode Unknown = new("UNKNOWN", "unknown error", 500);
}

/// <summary>An error answer; the one place that writes the OCI error envelope.</summary>
public sealed class OciError(OciErrorCode code, string? detail) : IResult
{
    private List<KeyValuePair<string, string>>? _headers;

    public OciErrorCode Code { get; } = code;

    public string? Detail { get; } = detail;

    public OciError WithHeader(string name, string value)
    {
        (_headers ??= []).Add(new(name, value));
        return this;
    }

    /// <summary>The envelope's bytes.</summary>
    internal byte[] ToJson()
        => JsonSerializer.SerializeToUtf8Bytes(new OciErrorEnvelope([new OciErrorBody(Code.Code, Code.Message, Detail)]), ApiJsonContext.Default.OciErrorEnvelope);

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.StatusCode = Code.Status;
        response.ContentType = "application/json";
        foreach (var (name, value) in _headers ?? [])
        {
            response.Headers[name] = value;
        }

        if (HttpMethods.IsHead(httpContext.Request.Method))
        {
            return;
        }

        var body = ToJson();
        response.ContentLength = body.Length;
        await response.Body.WriteAsync(body, httpContext.RequestAborted);
    }
}

/// <summary><c>{"errors":[{"code":..,"message":..,"detail":..}]}</c>; <c>detail</c> is written even when null.</summary>
internal sealed record OciErrorEnvelope(IReadOnlyList<OciErrorBody> Errors);

internal sealed record OciErrorBody(string Code, string Message, string? Detail);
