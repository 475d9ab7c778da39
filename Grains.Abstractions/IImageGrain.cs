using Orleans.Concurrency;

namespace Registry.Grains;

/// <summary>
/// What the image API says about one manifest (key: its digest): the facts read once from the
/// manifest and its config blob. Content-addressed, so they never change once kept; the HTTP host
/// computes them (grains never read bytes) and every later read is served from here.
/// </summary>
[Alias("registry.image")]
public interface IImageGrain : IGrainWithStringKey
{
    /// <summary>The facts kept, or null when none were computed yet.</summary>
    [RetryOnFailover]
    [ReadOnly, Alias("get")]
    ValueTask<ImageFacts?> Get();

    /// <summary>Keeps the facts unless some are kept already (then those are returned); returns once durable.</summary>
    [RetryOnFailover]
    [Alias("keep")]
    Task<ImageFacts> Keep(ImageFacts facts);

    /// <summary>
    /// Asks <paramref name="repository"/> whether it holds this manifest now and records the answer
    /// among the image's holders. Calls are one at a time and each reads the repository's present
    /// state, so, in whatever order the calls of a repository's changes arrive, the last one leaves
    /// the truth. <paramref name="pushed"/>: the caller saw the repository push the manifest, so the
    /// image is tracked from now on even when that repository let it go before this call (a push
    /// and a delete in quick succession). Returns the holding after it.
    /// </summary>
    [RetryOnFailover]
    [Alias("recheck")]
    Task<ImageHolding> Recheck(string repository, bool pushed);

    /// <summary>The repositories recorded as holding the image.</summary>
    [RetryOnFailover]
    [ReadOnly, Alias("holding")]
    ValueTask<ImageHolding> GetHolding();
}

/// <summary>One layer (or config) blob of an image manifest.</summary>
[GenerateSerializer, Immutable, Alias("registry.image-layer")]
public sealed record ImageLayer(
    [property: Id(0)] string Digest,
    [property: Id(1)] long Size,
    [property: Id(2)] string MediaType);

/// <summary>One entry of an index: a platform's manifest.</summary>
[GenerateSerializer, Immutable, Alias("registry.image-platform-manifest")]
public sealed record ImagePlatformManifest(
    [property: Id(0)] string Digest,
    [property: Id(1)] string MediaType,
    [property: Id(2)] long Size,
    [property: Id(3)] string? Architecture,
    [property: Id(4)] string? Os,
    [property: Id(5)] string? Variant);

/// <summary>The part of an image config the image API shows (<c>dockerImageMetadata</c>).</summary>
[GenerateSerializer, Immutable, Alias("registry.image-config-facts")]
public sealed record ImageConfigFacts(
    [property: Id(0)] string? Architecture,
    [property: Id(1)] string? Os,
    [property: Id(2)] string? Created,
    [property: Id(3)] IReadOnlyList<string>? Env,
    [property: Id(4)] IReadOnlyList<string>? Cmd,
    [property: Id(5)] IReadOnlyList<string>? Entrypoint,
    [property: Id(6)] IReadOnlyDictionary<string, string>? Labels,
    [property: Id(7)] string? WorkingDir,
    [property: Id(8)] string? User);

/// <summary>
/// The facts of one manifest. <see cref="Config"/> is null for an index or an artifact whose config
/// is not an image config (or is larger than the API reads); <see cref="Size"/> is the config size
/// plus the sizes of its distinct layers.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.image-facts")]
public sealed record ImageFacts(
    [property: Id(0)] string Digest,
    [property: Id(1)] string MediaType,
    [property: Id(2)] long ManifestSize,
    [property: Id(3)] ImageLayer? ConfigBlob,
    [property: Id(4)] IReadOnlyList<ImageLayer> Layers,
    [property: Id(5)] IReadOnlyList<ImagePlatformManifest> Manifests,
    [property: Id(6)] ImageConfigFacts? Config,
    [property: Id(7)] long Size,
    [property: Id(8)] DateTimeOffset ComputedAt);
