using Microsoft.Net.Http.Headers;
using Registry.Api.Kube;

namespace Registry.Api.Images.OpenApi;

/// <summary>
/// <c>/openapi/v2</c> (JSON only: a client that accepts nothing but protobuf gets 406) and
/// <c>/openapi/v3</c> (the index, and the group document under its content hash). Like discovery,
/// they are served to every caller: they describe the API, not what it holds. Each answer has an
/// ETag (the document's hash) and a matching <c>If-None-Match</c> is 304; the v3 document asked for
/// under its current hash is immutable, under an older one it is a 301 to the current one.
/// </summary>
public static class OpenApiEndpoint
{
    public const string V2Path = "/openapi/v2";
    public const string V3Path = "/openapi/v3";

    public static void Map(WebApplication app)
    {
        app.MapGet(V2Path, (HttpContext context) => V2(context));
        app.MapGet(V3Path, () => Results.Bytes(OpenApiDocuments.V3Index, "application/json"));
        app.MapGet(V3Path + "/{**path}", (HttpContext context, string path) => V3(context, path));
    }

    private static IResult V2(HttpContext context)
    {
        if (!AcceptsJson(context.Request))
        {
            return new KubeStatus(406, "NotAcceptable", "only application/json is served for /openapi/v2 (no protobuf)");
        }

        return Document(context, OpenApiDocuments.V2, "no-cache, private");
    }

    private static IResult V3(HttpContext context, string path)
    {
        if (path != OpenApiDocuments.GroupPath)
        {
            return KubeStatus.NotFound($"the server could not find the requested resource (no OpenAPI document for {path})");
        }

        var document = OpenApiDocuments.V3Group;
        var hash = context.Request.Query["hash"].ToString();
        if (hash.Length > 0 && !string.Equals(hash, document.Hash, StringComparison.Ordinal))
        {
            // A client holding an older index is sent to the document as it is now.
            return Results.Redirect($"{V3Path}/{OpenApiDocuments.GroupPath}?hash={document.Hash}", permanent: true);
        }

        return Document(context, document, hash.Length > 0 ? "public, immutable" : "no-cache, private");
    }

    private static IResult Document(HttpContext context, OpenApiDocuments.Document document, string cacheControl)
    {
        var etag = $"\"{document.Hash}\"";
        var headers = context.Response.Headers;
        headers.ETag = etag;
        headers.CacheControl = cacheControl;
        headers.Vary = "Accept";
        if (context.Request.Headers.IfNoneMatch.Any(v => v is not null && v.Split(',').Any(t => t.Trim() is var tag && (tag == etag || tag == "*"))))
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        return Results.Bytes(document.Bytes, "application/json");
    }

    /// <summary>Whether the Accept header (absent: anything) admits JSON: <c>application/json</c>, <c>application/*</c> or <c>*/*</c>.</summary>
    private static bool AcceptsJson(HttpRequest request)
    {
        var accept = request.Headers[HeaderNames.Accept];
        if (accept.Count == 0)
        {
            return true;
        }

        return accept
            .SelectMany(v => (v ?? "").Split(','))
            .Select(range => range.Split(';')[0].Trim())
            .Any(type => type.Length == 0 || type is "application/json" or "application/*" or "*/*");
    }
}
