using System.Globalization;
using Microsoft.Net.Http.Headers;
using Registry.Api.Services;

namespace Registry.Api.Oci;

public sealed class BlobHandlers(BlobService blobs, ReadWindowBudget readWindows)
{
    public async Task<IResult> GetAsync(HttpContext context, string name, string digest)
    {
        if (!References.IsValidDigest(digest))
        {
            return OciErrorCode.DigestInvalid.WithDetail($"'{digest}' is not a sha256 or sha512 digest");
        }

        if (await blobs.GetBlobSizeAsync(name, digest) is not { } size)
        {
            return OciErrorCode.BlobUnknown.WithDetail(digest);
        }

        // Range applies to GET only (RFC 9110, 14.2): a HEAD describes the whole blob.
        var (offset, length, partial) = (0L, size, false);
        if (HttpMethods.IsGet(context.Request.Method) && context.Request.Headers.Range.ToString() is { Length: > 0 } range)
        {
            switch (ByteRange.Parse(range, size))
            {
                case { Satisfiable: false }:
                    return OciErrorCode.RangeInvalid.WithDetail(range).WithHeader("Content-Range", $"bytes */{size}");
                case { Valid: true } r:
                    (offset, length, partial) = (r.Start, r.Length, true);
                    break;
            }
        }

        var stream = await blobs.OpenBlobAsync(digest, offset, context.RequestAborted);
        if (stream is null)
        {
            return OciErrorCode.BlobUnknown.WithDetail(digest);
        }

        return new BlobStreamResult(stream, digest, offset, length, size, partial, readWindows, blobs.BytesSent);
    }

    public async Task<IResult> DeleteAsync(string name, string digest)
    {
        if (!References.IsValidDigest(digest))
        {
            return OciErrorCode.DigestInvalid.WithDetail($"'{digest}' is not a sha256 or sha512 digest");
        }

        return await blobs.UnlinkBlobAsync(name, digest)
            ? OciResult.Status(202).WithHeader("Docker-Content-Digest", digest)
            : OciErrorCode.BlobUnknown.WithDetail(digest);
    }

    /// <summary>Streams blob bytes from storage to the client; HEAD sends the same headers without them.</summary>
    private sealed class BlobStreamResult(Stream stream, string digest, long offset, long length, long size, bool partial, ReadWindowBudget readWindows, Action<long> sent) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            await using var source = stream;
            var response = httpContext.Response;
            response.StatusCode = partial ? 206 : 200;
            response.ContentType = "application/octet-stream";
            response.ContentLength = length;
            response.Headers["Docker-Content-Digest"] = digest;
            response.Headers.ETag = $"\"{digest}\"";
            response.Headers.AcceptRanges = "bytes";
            if (partial)
            {
                response.Headers.ContentRange = string.Create(CultureInfo.InvariantCulture, $"bytes {offset}-{offset + length - 1}/{size}");
            }

            if (HttpMethods.IsHead(httpContext.Request.Method))
            {
                return;
            }

            await StreamCopier.SendAsync(source, response.BodyWriter, length, readWindows, sent, httpContext.RequestAborted);
        }
    }
}

/// <summary>One <c>bytes=</c> range of RFC 9110; several ranges, another unit or bad syntax are ignored (full body).</summary>
public readonly record struct ByteRange(bool Valid, bool Satisfiable, long Start, long Length)
{
    private static readonly ByteRange Ignore = new(false, true, 0, 0);
    private static readonly ByteRange Unsatisfiable = new(false, false, 0, 0);

    public static ByteRange Parse(string header, long size)
    {
        // The header parser is more lenient than this endpoint has been: it takes any unit, space
        // around '=' and empty list elements ("bytes=0-1,"), all of which still mean the whole blob.
        if (!header.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase)
            || header.Contains(',', StringComparison.Ordinal)
            || !RangeHeaderValue.TryParse(header, out var parsed)
            || parsed.Ranges.Count != 1)
        {
            return Ignore;
        }

        var range = parsed.Ranges.First();
        if (range.From is not { } start)
        {
            // Suffix range: the last N bytes.
            var suffix = range.To.GetValueOrDefault();
            if (suffix == 0 || size == 0)
            {
                return Unsatisfiable;
            }

            var n = Math.Min(suffix, size);
            return new ByteRange(true, true, size - n, n);
        }

        if (start >= size)
        {
            return Unsatisfiable;
        }

        var end = Math.Min(range.To ?? size - 1, size - 1);
        return new ByteRange(true, true, start, end - start + 1);
    }
}
