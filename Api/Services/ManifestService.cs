using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Registry.Api.Oci;
using Registry.Grains;
using Registry.Storage;

namespace Registry.Api.Services;

/// <summary>A manifest ready to send: its descriptor and its bytes as pushed.</summary>
public sealed record StoredManifest(ManifestDescriptor Descriptor, ReadOnlyMemory<byte> Content);

/// <summary>Manifest pushes and reads: bytes in blob storage (cached here), facts in the repository grain.</summary>
public sealed class ManifestService(IBlobStore store, IGrainFactory grains, Lifecycle.ImmutableTagLookup immutableTags, IOptions<ApiOptions> options, TimeProvider time, ILogger<ManifestService> logger)
{
    private readonly MemoryCache _cache = new(new MemoryCacheOptions { SizeLimit = options.Value.Limits.ManifestCacheBytes });

    /// <param name="queryTags">The <c>?tag=</c> of a push by digest (valid, distinct): the manifest goes under all of them, or under none.</param>
    public async Task<(ManifestDescriptor? Descriptor, OciError? Error)> PutAsync(string name, string reference, ReadOnlyMemory<byte> body, string? contentType, bool mayMoveTag, CancellationToken ct, IReadOnlyList<string>? queryTags = null)
    {
        var byDigest = References.LooksLikeDigest(reference);
        var digest = References.Compute(byDigest ? References.AlgorithmOf(reference) : System.Security.Cryptography.HashAlgorithmName.SHA256, body.Span);
        if (byDigest && digest != reference)
        {
            return (null, OciErrorCode.DigestInvalid.WithDetail($"the manifest has digest {digest}, not {reference}"));
        }

        var parsed = ManifestParser.Parse(body, contentType, out var error);
        if (error is not null)
        {
            return (null, error);
        }

        var descriptor = new ManifestDescriptor(digest, parsed.MediaType, body.Length, parsed.ArtifactType, parsed.Annotations, parsed.Subject, time.GetUtcNow());
        var tag = byDigest ? queryTags?.FirstOrDefault() : reference;
        var moreTags = byDigest && queryTags is { Count: > 1 } ? queryTags.Skip(1).ToArray() : null;

        // A manifest the repository refuses leaves no bytes behind (short of a blob deleted between
        // this check and the push, which the push then refuses). Bytes before the push: once the
        // grain acknowledges, the manifest must be readable.
        var repository = grains.GetGrain<IRepositoryGrain>(name);
        var tags = tag is null ? [] : (string[])[tag, .. moreTags ?? []];
        // All of the repository's rules, not only those of the pushed tags: the tracking tags a push moves are checked too.
        var rules = tags.Length == 0 ? [] : (await immutableTags.ForRepositoryAsync(name)).ToArray();
        var push = new ManifestPush(descriptor, parsed.Blobs, parsed.Children, tag, mayMoveTag, rules.Length > 0 ? rules : null, moreTags);
        if (await repository.CheckManifest(push) is { } refused)
        {
            return (null, Refusal(name, refused));
        }

        // A copy already stored may be garbage the collector has listed: the touch keeps it, and a copy
        // deleted meanwhile is written again (docs/garbage-collection.md).
        do
        {
            await store.PutAsync(digest, body, ct);
        }
        while (!await store.TouchAsync(digest, ct));

        OciUrls.SetEventTarget(OciUrls.Manifest(name, digest));
        var result = await repository.PutManifest(push);
        if (result.Outcome != ManifestPushOutcome.Accepted)
        {
            return (null, Refusal(name, result));
        }

        Remember(digest, body);
        Log.ManifestPushed(logger, name, digest, tag);
        return (descriptor, null);
    }

    public async Task<ManifestDescriptor?> ResolveAsync(string name, string reference)
    {
        var repository = grains.GetGrain<IRepositoryGrain>(name);
        return References.LooksLikeDigest(reference)
            ? await repository.GetManifest(reference)
            : await repository.ResolveTag(reference);
    }

    public async Task<StoredManifest?> ReadAsync(ManifestDescriptor descriptor, CancellationToken ct)
    {
        if (_cache.TryGetValue(descriptor.Digest, out ReadOnlyMemory<byte> cached))
        {
            return new StoredManifest(descriptor, cached);
        }

        await using var stream = await store.OpenReadAsync(descriptor.Digest, 0, ct);
        if (stream is null)
        {
            return null;
        }

        var content = new byte[descriptor.Size];
        await stream.ReadExactlyAsync(content, ct);
        Remember(descriptor.Digest, content);
        return new StoredManifest(descriptor, content);
    }

    /// <summary>Deletes a manifest (by digest) or a tag; refused when an immutable tag rule protects the tag, or a tag on the manifest.</summary>
    public async Task<GuardedDeleteResult> DeleteAsync(string name, string reference)
    {
        var repository = grains.GetGrain<IRepositoryGrain>(name);
        var byDigest = References.LooksLikeDigest(reference);
        var rules = await immutableTags.ForRepositoryAsync(name);
        if (rules.Count == 0)
        {
            return new(byDigest ? await repository.DeleteManifest(reference) : await repository.DeleteTag(reference));
        }

        return byDigest ? await repository.DeleteManifestGuarded(reference, rules) : await repository.DeleteTagGuarded(reference, rules);
    }

    /// <summary>
    /// The answer to a change an immutable tag rule refused: 412 <c>PRECONDITION</c> naming the tag
    /// and the rule in the message too, as clients (skopeo, podman) print the message, not the detail.
    /// </summary>
    public static OciError Immutable(string name, string? tag, string? rule)
    {
        var text = $"'{name}:{tag}' is configured as immutable by rule '{rule}': it cannot be moved or deleted, nor the manifest it points at";
        return (OciErrorCode.Precondition with { Message = text }).WithDetail(text);
    }

    private static OciError Refusal(string name, ManifestPushResult result) => result.Outcome switch
    {
        ManifestPushOutcome.Immutable => Immutable(name, result.Missing, result.Rule),
        ManifestPushOutcome.TagExists => OciErrorCode.Denied.WithDetail($"tag {result.Missing} of {name} points at another manifest; moving it needs the overwrite permission"),
        ManifestPushOutcome.QuotaExceeded when result.Quota is { } quota => Lifecycle.QuotaErrors.ToOciError(quota),
        ManifestPushOutcome.ManifestUnknown => OciErrorCode.ManifestBlobUnknown.WithDetail($"manifest {result.Missing} is not in repository {name}"),
        _ => OciErrorCode.ManifestBlobUnknown.WithDetail($"blob {result.Missing} is not in repository {name}"),
    };

    private void Remember(string digest, ReadOnlyMemory<byte> content)
        => _cache.Set(digest, content, new MemoryCacheEntryOptions { Size = content.Length });
}
