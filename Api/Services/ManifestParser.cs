using System.Text.Json;
using System.Text.Json.Serialization;
using Registry.Api.Json;
using Registry.Api.Oci;

namespace Registry.Api.Services;

/// <summary>What the registry needs to know of a manifest, read from its bytes (which stay as sent).</summary>
public sealed record ParsedManifest(
    string MediaType,
    string? ArtifactType,
    string? Subject,
    IReadOnlyDictionary<string, string>? Annotations,
    IReadOnlyList<string> Blobs,
    IReadOnlyList<string> Children);

public static class MediaTypes
{
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
    public const string DockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";

    public static bool IsIndex(string mediaType) => mediaType is OciIndex or DockerManifestList;

    public static bool IsImage(string mediaType) => mediaType is OciManifest or DockerManifest;

    /// <summary>Layers that clients fetch from elsewhere (their <c>urls</c>), so the registry need not hold them.</summary>
    public static bool IsForeignLayer(string mediaType)
        => mediaType is "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
            || mediaType.StartsWith("application/vnd.oci.image.layer.nondistributable.", StringComparison.Ordinal);
}

/// <summary>
/// Validates manifest JSON against the image-spec's structure without re-serializing it: the
/// bytes are read into typed documents for their facts only.
/// </summary>
public static class ManifestParser
{
    public static ParsedManifest Parse(ReadOnlyMemory<byte> body, string? contentType, out OciError? error)
    {
        try
        {
            return Parse(body.Span, StripParameters(contentType), out error)!;
        }
        catch (JsonException e)
        {
            error = OciErrorCode.ManifestInvalid.WithDetail("the manifest is not valid JSON: " + e.Message);
            return null!;
        }
    }

    private static ParsedManifest? Parse(ReadOnlySpan<byte> body, string? contentType, out OciError? error)
    {
        error = null;

        // The media type decides which document the body is, so it is read first; the fields of the
        // other kinds are not looked at (an index may carry a 'config' of any shape, as before).
        if (JsonSerializer.Deserialize(body, ApiJsonContext.Default.ManifestHeader) is not { } header)
        {
            return Fail("the manifest is not a JSON object", out error);
        }

        var declared = header.MediaType;
        if (header.SchemaVersion == 1
            || contentType is MediaTypes.DockerSchema1 or MediaTypes.DockerSchema1Signed
            || declared is MediaTypes.DockerSchema1 or MediaTypes.DockerSchema1Signed)
        {
            return Fail("Docker schema 1 manifests are not supported; push schema 2 or OCI", out error);
        }

        if (header.SchemaVersion != 2)
        {
            return Fail("schemaVersion must be 2", out error);
        }

        var mediaType = IsKnown(contentType) ? contentType! : declared;
        if (mediaType is null || !IsKnown(mediaType))
        {
            return Fail($"unsupported manifest media type '{contentType ?? declared}'", out error);
        }

        if (declared is not null && declared != mediaType)
        {
            return Fail($"the manifest declares mediaType '{declared}' but was sent as '{mediaType}'", out error);
        }

        return MediaTypes.IsIndex(mediaType)
            ? ParseIndex(JsonSerializer.Deserialize(body, ApiJsonContext.Default.ImageIndexDocument)!, mediaType, out error)
            : ParseImage(JsonSerializer.Deserialize(body, ApiJsonContext.Default.ImageManifestDocument)!, mediaType, out error);
    }

    private static ParsedManifest? ParseIndex(ImageIndexDocument index, string mediaType, out OciError? error)
    {
        if (!ReadCommon(index, out var subject, out var annotations, out error))
        {
            return null;
        }

        if (index.Manifests is null)
        {
            return Fail("an index needs a 'manifests' array", out error);
        }

        var children = new List<string>(index.Manifests.Count);
        foreach (var item in index.Manifests)
        {
            if (ReadDescriptor(item, "manifests[]", out error) is not { } d)
            {
                return null;
            }

            children.Add(d.Digest);
        }

        return new ParsedManifest(mediaType, ArtifactTypeOf(index), subject, annotations, [], children.Distinct().ToArray());
    }

    private static ParsedManifest? ParseImage(ImageManifestDocument image, string mediaType, out OciError? error)
    {
        if (!ReadCommon(image, out var subject, out var annotations, out error))
        {
            return null;
        }

        if (image.Config is null || ReadDescriptor(image.Config, "config", out error) is not { } config)
        {
            error ??= OciErrorCode.ManifestInvalid.WithDetail("an image manifest needs a 'config' descriptor");
            return null;
        }

        var blobs = new List<string> { config.Digest };
        if (image.HasLayers)
        {
            if (image.Layers is null)
            {
                return Fail("'layers' must be an array", out error);
            }

            foreach (var item in image.Layers)
            {
                if (ReadDescriptor(item, "layers[]", out error) is not { } layer)
                {
                    return null;
                }

                if (!MediaTypes.IsForeignLayer(layer.MediaType))
                {
                    blobs.Add(layer.Digest);
                }
            }
        }
        else if (mediaType == MediaTypes.DockerManifest)
        {
            return Fail("a Docker image manifest needs a 'layers' array", out error);
        }

        return new ParsedManifest(mediaType, ArtifactTypeOf(image) ?? config.MediaType, subject, annotations, blobs.Distinct().ToArray(), []);
    }

    /// <summary>The subject and the annotations, which both kinds may carry.</summary>
    private static bool ReadCommon(ManifestDocument document, out string? subject, out Dictionary<string, string>? annotations, out OciError? error)
    {
        subject = null;
        annotations = document.Annotations;
        error = null;
        foreach (var (key, value) in annotations ?? [])
        {
            if (value is null)
            {
                Fail<bool>($"annotation '{key}' is not a string", out error);
                return false;
            }
        }

        if (document.HasSubject)
        {
            if (ReadDescriptor(document.Subject, "subject", out error) is not { } s)
            {
                return false;
            }

            subject = s.Digest;
        }

        return true;
    }

    /// <summary>An empty artifactType counts as missing: an image manifest's then is its config's media type and an index has none (distribution-spec, listing referrers).</summary>
    private static string? ArtifactTypeOf(ManifestDocument document) => document.ArtifactType is { Length: > 0 } declared ? declared : null;

    private static bool IsKnown(string? mediaType) => mediaType is not null && (MediaTypes.IsImage(mediaType) || MediaTypes.IsIndex(mediaType));

    private static string? StripParameters(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType))
        {
            return null;
        }

        var semicolon = contentType.IndexOf(';', StringComparison.Ordinal);
        return (semicolon < 0 ? contentType : contentType[..semicolon]).Trim();
    }

    private static (string Digest, string MediaType)? ReadDescriptor(DescriptorDocument? descriptor, string where, out OciError? error)
    {
        error = null;
        if (descriptor is null)
        {
            return Fail<(string, string)?>($"{where} is not a descriptor object", out error);
        }

        var digest = descriptor.Digest;
        if (digest is null || !References.IsValidDigest(digest))
        {
            return Fail<(string, string)?>($"{where} has a missing or invalid digest '{digest}'", out error);
        }

        if (descriptor.Size is not >= 0)
        {
            return Fail<(string, string)?>($"{where} {digest} needs a non-negative size", out error);
        }

        if (string.IsNullOrEmpty(descriptor.MediaType))
        {
            return Fail<(string, string)?>($"{where} {digest} needs a mediaType", out error);
        }

        return (digest, descriptor.MediaType);
    }

    private static ParsedManifest? Fail(string detail, out OciError? error) => Fail<ParsedManifest?>(detail, out error);

    private static T Fail<T>(string detail, out OciError? error)
    {
        error = OciErrorCode.ManifestInvalid.WithDetail(detail);
        return default!;
    }
}

/// <summary>
/// What decides a manifest's kind. A <c>mediaType</c> that is not a string counts as absent, as
/// it did when the document was walked by hand.
/// </summary>
internal sealed class ManifestHeader
{
    public int? SchemaVersion { get; set; }

    [JsonConverter(typeof(LenientStringConverter))]
    public string? MediaType { get; set; }
}

/// <summary>
/// The fields an image manifest and an index share. Setters run only for properties present in
/// the document, which tells an explicit <c>null</c> (refused) from an absent field.
/// </summary>
internal abstract class ManifestDocument
{
    [JsonConverter(typeof(LenientStringConverter))]
    public string? ArtifactType { get; set; }

    public Dictionary<string, string>? Annotations { get; set; }

    // An explicit null is refused, an absent one is not: the setter runs only for a member present in the JSON.
    public DescriptorDocument? Subject { get; set => (field, HasSubject) = (value, true); }

    [JsonIgnore]
    public bool HasSubject { get; private set; }
}

/// <summary>An OCI image manifest or a Docker schema 2 manifest.</summary>
internal sealed class ImageManifestDocument : ManifestDocument
{
    public DescriptorDocument? Config { get; set; }

    public List<DescriptorDocument?>? Layers { get; set => (field, HasLayers) = (value, true); }

    [JsonIgnore]
    public bool HasLayers { get; private set; }
}

/// <summary>An OCI image index or a Docker manifest list.</summary>
internal sealed class ImageIndexDocument : ManifestDocument
{
    public List<DescriptorDocument?>? Manifests { get; set; }
}

/// <summary>The descriptor fields the registry checks; the others (urls, platform, annotations, data) stay in the bytes.</summary>
internal sealed class DescriptorDocument
{
    public string? MediaType { get; set; }

    public string? Digest { get; set; }

    public long? Size { get; set; }
}
