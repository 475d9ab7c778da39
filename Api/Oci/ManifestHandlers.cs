using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Registry.Api.Services;

namespace Registry.Api.Oci;

public sealed class ManifestHandlers(ManifestService manifests, Access.AccessGate access, IOptions<ApiOptions> options, Lifecycle.PullRecorder pulls)
{
    public async Task<IResult> GetAsync(HttpContext context, string name, string reference)
    {
        if (LookupError(name, reference) is { } invalid)
        {
            return invalid;
        }

        var descriptor = await manifests.ResolveAsync(name, reference);
        if (descriptor is null)
        {
            return OciErrorCode.ManifestUnknown.WithDetail($"{name}:{reference}");
        }

        if (!Accepts(context.Request, descriptor.MediaType))
        {
            return OciErrorCode.ManifestUnknown.WithDetail($"the manifest is {descriptor.MediaType}, which the Accept header does not allow");
        }

        var stored = await manifests.ReadAsync(descriptor, context.RequestAborted);
        if (stored is null)
        {
            return OciErrorCode.ManifestUnknown.WithDetail($"{name}@{descriptor.Digest}");
        }

        // Retention's "pulled within": batched in memory, no grain call per pull.
        pulls.Record(name, descriptor.Digest);
        return OciResult.Status(200)
            .WithHeader("Docker-Content-Digest", descriptor.Digest)
            .WithHeader("ETag", $"\"{descriptor.Digest}\"")
            .WithBody(descriptor.MediaType, stored.Content);
    }

    public async Task<IResult> PutAsync(HttpContext context, string name, string reference)
    {
        if (ReferenceError(reference) is { } invalid)
        {
            return invalid;
        }

        var queryTags = context.Request.Query["tag"];
        if (queryTags.Count > 0 && QueryTagsError(reference, queryTags) is { } badTags)
        {
            return badTags;
        }

        var limit = options.Value.Limits.MaxManifestBytes;
        if (context.Request.ContentLength > limit)
        {
            return OciErrorCode.ManifestTooLarge.WithDetail($"the limit is {limit} bytes");
        }

        var body = await RequestBodies.ReadBoundedAsync(context.Request.Body, limit, context.RequestAborted);
        if (body is null)
        {
            return OciErrorCode.ManifestTooLarge.WithDetail($"the limit is {limit} bytes");
        }

        string[] tags = [.. queryTags.OfType<string>().Distinct(StringComparer.Ordinal)];
        var (descriptor, error) = await manifests.PutAsync(name, reference, body, context.Request.ContentType, await access.AllowsAsync(context, Access.AccessItem.Repo(name, Access.Actions.Overwrite)), context.RequestAborted, tags);
        if (error is not null)
        {
            return error;
        }

        var result = OciResult.Status(201)
            .WithHeader("Location", OciUrls.Manifest(name, descriptor!.Digest))
            .WithHeader("Docker-Content-Digest", descriptor.Digest);

        // One OCI-Tag per tag applied: how a client learns that this registry honours ?tag=.
        foreach (var tag in tags)
        {
            result.WithHeader("OCI-Tag", tag);
        }

        return descriptor.Subject is { } subject ? result.WithHeader("OCI-Subject", subject) : result;
    }

    public async Task<IResult> DeleteAsync(string name, string reference)
    {
        if (LookupError(name, reference) is { } invalid)
        {
            return invalid;
        }

        var result = await manifests.DeleteAsync(name, reference);
        return result switch
        {
            { Refused: true } => ManifestService.Immutable(name, result.Tag, result.Rule),
            { Deleted: true } => OciResult.Status(202),
            _ => OciErrorCode.ManifestUnknown.WithDetail($"{name}:{reference}"),
        };
    }

    /// <summary>
    /// A read or delete names an existing manifest or gets 404. Nothing can be stored under an
    /// invalid tag, so one is an unknown manifest (as the conformance suite expects); a malformed
    /// digest is still a bad request.
    /// </summary>
    private static OciError? LookupError(string name, string reference)
        => References.LooksLikeDigest(reference) || References.IsValidTag(reference)
            ? ReferenceError(reference)
            : OciErrorCode.ManifestUnknown.WithDetail($"{name}:{Shorten(reference)}");

    /// <summary>The most <c>?tag=</c> one push by digest may carry.</summary>
    public const int MaxQueryTags = 16;

    /// <summary><c>?tag=</c> goes with a push by digest only, each a valid tag, at most <see cref="MaxQueryTags"/> of them.</summary>
    private static OciError? QueryTagsError(string reference, Microsoft.Extensions.Primitives.StringValues tags)
    {
        if (!References.LooksLikeDigest(reference))
        {
            return OciErrorCode.TagInvalid.WithDetail("?tag= goes with a push by digest; this push names the tag in its path");
        }

        if (tags.Count > MaxQueryTags)
        {
            return OciErrorCode.TagInvalid.WithDetail($"at most {MaxQueryTags} ?tag= per push");
        }

        foreach (var tag in tags)
        {
            if (tag is null || !References.IsValidTag(tag))
            {
                return OciErrorCode.TagInvalid.WithDetail($"'{Shorten(tag ?? "")}' is not a valid tag");
            }
        }

        return null;
    }

    private static string Shorten(string reference) => reference.Length > 200 ? reference[..200] : reference;

    private static OciError? ReferenceError(string reference)
    {
        if (References.LooksLikeDigest(reference))
        {
            return References.IsValidDigest(reference) ? null : OciErrorCode.DigestInvalid.WithDetail($"'{reference}' is not a sha256 or sha512 digest");
        }

        return References.IsValidTag(reference) ? null : OciErrorCode.TagInvalid.WithDetail($"'{Shorten(reference)}' is not a valid tag");
    }

    /// <summary>An absent Accept, a wildcard, or the stored media type among the listed ones.</summary>
    private static bool Accepts(HttpRequest request, string mediaType)
    {
        var accept = request.Headers.Accept;
        if (accept.Count == 0)
        {
            return true;
        }

        if (!MediaTypeHeaderValue.TryParseList(accept, out var values))
        {
            return true;
        }

        foreach (var value in values)
        {
            if (value.MediaType.Equals("*/*", StringComparison.Ordinal)
                || value.MediaType.Equals("application/*", StringComparison.Ordinal)
                || value.MediaType.Equals("application/json", StringComparison.Ordinal)
                || value.MediaType.Equals(mediaType, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
