using System.Buffers;
using System.Text.Json;

namespace Registry.Api.Oci;

/// <summary>Success answers of the OCI API: a status with headers, or a small body.</summary>
public sealed class OciResult(int status) : IResult
{
    private readonly List<KeyValuePair<string, string>> _headers = [];
    private ReadOnlyMemory<byte> _body;
    private string? _contentType;

    public static OciResult Status(int status) => new(status);

    /// <summary>Writes a JSON body with <paramref name="write"/>; the body is small (pages are capped).</summary>
    public static OciResult Json(int status, string contentType, Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            write(json);
        }

        return new OciResult(status).WithBody(contentType, buffer.WrittenMemory);
    }

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
            response.Headers[name] = value;
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
