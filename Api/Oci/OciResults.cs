using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Registry.Api.Oci;

/// <summary>Success answers of the OCI API: a status with headers, or a small body.</summary>
public sealed class OciResult(int status) : IResult
{
    private readonly List<KeyValuePair<string, string>> _headers = [];
    private ReadOnlyMemory<byte> _body;
    private string? _contentType;

    public static OciResult Status(int status) => new(status);

    /// <summary>A JSON body serialized from <paramref name="value"/>; the body is small (pages are capped).</summary>
    public static OciResult Json<T>(int status, string contentType, T value, JsonTypeInfo<T> type)
        => new OciResult(status).WithBody(contentType, JsonSerializer.SerializeToUtf8Bytes(value, type));

    public OciResult WithHeader(string name, string value)
    {
        _headers.Add(new(name, value));
        return this;
    }

    public OciResult WithBody(string contentType, ReadOnlyMemory<byte> body)
    {
        _contentType = contentType;
        _body = body;
        return this;
    }

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.StatusCode = status;
        foreach (var (name, value) in _headers)
        {
            // Appended: a header may come more than once (OCI-Tag, one per tag).
            response.Headers.Append(name, value);
        }

        response.ContentLength = _body.Length;
        if (_contentType is not null)
        {
            response.ContentType = _contentType;
        }

        if (_body.Length > 0 && !HttpMethods.IsHead(httpContext.Request.Method))
        {
            await response.Body.WriteAsync(_body, httpContext.RequestAborted);
        }
    }
}
