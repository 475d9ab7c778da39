using System.Globalization;
using Registry.Api.Services;

namespace Registry.Api.Oci;

public sealed class UploadHandlers(BlobService blobs, Access.CatalogAccess catalog)
{
    public async Task<IResult> StartAsync(HttpContext context, string name)
    {
        var query = context.Request.Query;
        // A mount whose source the caller may not read starts a normal upload instead (202, never 201).
        if (query.TryGetValue("mount", out var mountValue) && !Access.AccessGate.MountRefused(context))
        {
            var mount = mountValue.ToString();
            if (!References.IsValidDigest(mount))
            {
                return OciErrorCode.DigestInvalid.WithDetail($"'{mount}' is not a sha256 or sha512 digest");
            }

            var from = query.TryGetValue("from", out var fromValue) ? fromValue.ToString() : null;
            if (from is not null && !References.IsValidName(from))
            {
                return OciErrorCode.NameInvalid.WithDetail($"'{from}' is not a valid repository name");
            }

            // Without from, the blob is taken only from a repository the caller may pull: knowing
            // its digest proves nothing about whether one may read it. Whoever may pull everything
            // mounts from the whole store, as with access control off.
            var found = true;
            if (from is null && await catalog.FilterAsync(context) is { } filter)
            {
                from = await catalog.MountSourceAsync(name, mount, filter, context.RequestAborted);
                found = from is not null;
            }

            var (mounted, refused) = found ? await blobs.MountAsync(name, mount, from, context.RequestAborted) : default;
            if (refused is not null)
            {
                return refused;
            }

            if (mounted)
            {
                return OciResult.Status(201)
                    .WithHeader("Location", OciUrls.Blob(name, mount))
                    .WithHeader("Docker-Content-Digest", mount);
            }
        }
        else if (query.TryGetValue("digest", out var digestValue))
        {
            var digest = digestValue.ToString();
            if (!References.IsValidDigest(digest))
            {
                return OciErrorCode.DigestInvalid.WithDetail($"'{digest}' is not a sha256 or sha512 digest");
            }

            return await blobs.PutMonolithicAsync(name, digest, context.Request.Body, context.RequestAborted) is { } error
                ? error
                : Created(name, digest);
        }

        var id = BlobService.NewUploadId();
        await blobs.StartUploadAsync(name, id);
        return Session(202, name, id, 0);
    }

    public async Task<IResult> StatusAsync(string name, string id)
    {
        if (!IsUploadId(id) || await blobs.GetUploadAsync(name, id) is not { } status)
        {
            return OciErrorCode.BlobUploadUnknown.WithDetail();
        }

        return Session(204, name, id, status.Offset);
    }

    public async Task<IResult> PatchAsync(HttpContext context, string name, string id)
    {
        if (!IsUploadId(id))
        {
            return OciErrorCode.BlobUploadUnknown.WithDetail();
        }

        long? start = null, length = null;
        OciError? headerError = null;
        if (context.Request.Headers.ContentRange.ToString() is { Length: > 0 } contentRange)
        {
            if (!TryParseContentRange(contentRange, out var s, out var end))
            {
                headerError = OciErrorCode.RangeInvalid.WithDetail($"Content-Range '{contentRange}' is not '<start>-<end>'");
            }
            else
            {
                (start, length) = (s, end - s + 1);
                if (context.Request.ContentLength is { } announced && announced != length)
                {
                    headerError = OciErrorCode.RangeInvalid.WithDetail($"Content-Range covers {length} bytes, Content-Length says {announced}");
                }
            }
        }

        if (headerError is not null)
        {
            // Like an out-of-order chunk: the session's current range, so the client can resume; an
            // unknown session is unknown whatever the headers say.
            return await blobs.GetUploadAsync(name, id) is { } status
                ? AddSessionHeaders(headerError, name, id, status.Offset)
                : OciErrorCode.BlobUploadUnknown.WithDetail();
        }

        var step = await blobs.AppendChunkAsync(name, id, start, length, context.Request.Body, context.RequestAborted);
        if (step.Error is { } error)
        {
            return error.Code == OciErrorCode.RangeInvalid ? AddSessionHeaders(error, name, id, step.Offset) : error;
        }

        return Session(202, name, id, step.Offset);
    }

    public async Task<IResult> PutAsync(HttpContext context, string name, string id)
    {
        if (!IsUploadId(id))
        {
            return OciErrorCode.BlobUploadUnknown.WithDetail();
        }

        var digest = context.Request.Query["digest"].ToString();
        if (!References.IsValidDigest(digest))
        {
            return OciErrorCode.DigestInvalid.WithDetail($"'{digest}' is not a sha256 or sha512 digest");
        }

        var hasBody = context.Request.ContentLength is > 0 || (context.Request.ContentLength is null && context.Request.Headers.TransferEncoding.Count > 0);
        var step = await blobs.FinishUploadAsync(name, id, digest, hasBody, context.Request.Body, context.RequestAborted);
        return step.Error is { } error ? error : Created(name, digest);
    }

    public async Task<IResult> DeleteAsync(string name, string id)
        => IsUploadId(id) && await blobs.CancelUploadAsync(name, id)
            ? OciResult.Status(204)
            : OciErrorCode.BlobUploadUnknown.WithDetail();

    /// <summary>Session ids are 32 lowercase hex digits; anything else cannot name a session (or a path).</summary>
    private static bool IsUploadId(string id) => id.Length == 32 && id.All(char.IsAsciiHexDigitLower);

    private static bool TryParseContentRange(string value, out long start, out long end)
    {
        start = end = 0;
        var text = value.StartsWith("bytes", StringComparison.OrdinalIgnoreCase) ? value[5..].TrimStart(' ', '=') : value;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            text = text[..slash];
        }

        var dash = text.IndexOf('-', StringComparison.Ordinal);
        return dash > 0
            && long.TryParse(text.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out start)
            && long.TryParse(text.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out end)
            && end >= start;
    }

    private static OciResult Created(string name, string digest) => OciResult.Status(201)
        .WithHeader("Location", OciUrls.Blob(name, digest))
        .WithHeader("Docker-Content-Digest", digest);

    private static OciResult Session(int status, string name, string id, long offset) => OciResult.Status(status)
        .WithHeader("Location", OciUrls.Upload(name, id))
        .WithHeader("Range", RangeOf(offset))
        .WithHeader("Docker-Upload-UUID", id);

    private static OciError AddSessionHeaders(OciError error, string name, string id, long offset) => error
        .WithHeader("Location", OciUrls.Upload(name, id))
        .WithHeader("Range", RangeOf(offset))
        .WithHeader("Docker-Upload-UUID", id);

    private static string RangeOf(long offset) => string.Create(CultureInfo.InvariantCulture, $"0-{Math.Max(0, offset - 1)}");
}
