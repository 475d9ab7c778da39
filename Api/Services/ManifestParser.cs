using System.Text.Json;
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

/// <summary>Validates manifest JSON against the image-spec's structure without re-serializing it.</summary>
public static class ManifestParser
{
    public static ParsedManifest Parse(ReadOnlyMemory<byte> body, string? contentType, out OciError? error)
    {
        error = null;
        try
        {
            using var document = JsonDocument.Parse(body);
            return Parse(document.RootElement, StripParameters(contentType), out error)!;
        }
        catch (JsonException e)
        {
            error = OciErrorCode.ManifestInvalid.WithDetail("the manifest is not valid JSON: " + e.Message);
            return null!;
        }
    }

    private static ParsedManifest? Parse(JsonElement root, string? contentType, out OciError? error)
    {
        error = null;
        if (root.ValueKind != JsonValueKind.Object)
        {
            return Fail("the manifest is not a JSON object", out error);
        }

        var declared = OptionalString(root, "mediaType");
        if (root.TryGetProperty("schemaVersion", out var schema) && schema.ValueKind == JsonValueKind.Number && schema.TryGetInt32(out var version) && version == 1
            || contentType is MediaTypes.DockerSchema1 or MediaTypes.DockerSchema1Signed
            || declared is MediaTypes.DockerSchema1 or MediaTypes.DockerSchema1Signed)
        {
            return Fail("Docker schema 1 manifests are not supported; push schema 2 or OCI", out error);
        }

        if (!root.TryGetProperty("schemaVersion", out schema) || schema.ValueKind != JsonValueKind.Number || !schema.TryGetInt32(out version) || version != 2)
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

        // An empty artifactType counts as missing: an image manifest's then is its config's media
        // type and an index has none (distribution-spec, listing referrers).
        var artifactType = OptionalString(root, "artifactType") is { Length: > 0 } declaredType ? declaredType : null;
        var annotations = ReadAnnotations(root, out error);
        if (error is not null)
        {
            return null;
        }

        string? subject = null;
        if (root.TryGetProperty("subject", out var subjectElement))
        {
            if (ReadDescriptor(subjectElement, "subject", out error) is not { } s)
            {
                return null;
            }

            subject = s.Digest;
        }

        var blobs = new List<string>();
        var children = new List<string>();
        if (MediaTypes.IsIndex(mediaType))
        {
            if (!root.TryGetProperty("manifests", out var manifests) || manifests.ValueKind != JsonValueKind.Array)
            {
                return Fail("an index needs a 'manifests' array", out error);
            }

            foreach (var item in manifests.EnumerateArray())
            {
                if (ReadDescriptor(item, "manifests[]", out error) is not { } d)
                {
                    return null;
                }

                children.Add(d.Digest);
            }
        }
        else
        {
            if (!root.TryGetProperty("config", out var config) || ReadDescriptor(config, "config", out error) is not { } c)
            {
                error ??= OciErrorCode.ManifestInvalid.WithDetail("an image manifest needs a 'config' descriptor");
                return null;
            }

            blobs.Add(c.Digest);
            artifactType ??= c.MediaType;
            if (root.TryGetProperty("layers", out var layers))
            {
                if (layers.ValueKind != JsonValueKind.Array)
                {
                    return Fail("'layers' must be an array", out error);
                }

                foreach (var item in layers.EnumerateArray())
                {
                    if (ReadDescriptor(item, "layers[]", out error) is not { } l)
                    {
                        return null;
                    }

                    if (!MediaTypes.IsForeignLayer(l.MediaType))
                    {
                        blobs.Add(l.Digest);
                    }
                }
            }
            else if (mediaType == MediaTypes.DockerManifest)
            {
                return Fail("a Docker image manifest needs a 'layers' array", out error);
            }
        }

        return new ParsedManifest(mediaType, artifactType, subject, annotations, blobs.Distinct().ToArray(), children.Distinct().ToArray());
    }

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

    private static string? OptionalString(JsonElement element, string property)
        => element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static (string Digest, string MediaType)? ReadDescriptor(JsonElement element, string where, out OciError? error)
    {
        error = null;
        if (element.ValueKind != JsonValueKind.Object)
        {
            return Fail<(string, string)?>($"{where} is not a descriptor object", out error);
        }

        var digest = OptionalString(element, "digest");
        if (digest is null || !References.IsValidDigest(digest))
        {
            return Fail<(string, string)?>($"{where} has a missing or invalid digest '{digest}'", out error);
        }

        if (!element.TryGetProperty("size", out var size) || size.ValueKind != JsonValueKind.Number || !size.TryGetInt64(out var length) || length < 0)
        {
            return Fail<(string, string)?>($"{where} {digest} needs a non-negative size", out error);
        }

        var mediaType = OptionalString(element, "mediaType");
        if (string.IsNullOrEmpty(mediaType))
        {
            return Fail<(string, string)?>($"{where} {digest} needs a mediaType", out error);
        }

        return (digest, mediaType);
    }

    private static Dictionary<string, string>? ReadAnnotations(JsonElement root, out OciError? error)
    {
        error = null;
        if (!root.TryGetProperty("annotations", out var annotations) || annotations.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (annotations.ValueKind != JsonValueKind.Object)
        {
            return Fail<Dictionary<string, string>?>("annotations must be an object of strings", out error);
        }

        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var property in annotations.EnumerateObject())
        {
            if (property.Value.ValueKind != JsonValueKind.String)
            {
                return Fail<Dictionary<string, string>?>($"annotation '{property.Name}' is not a string", out error);
            }

            result[property.Name] = property.Value.GetString()!;
        }

        return result;
    }

    private static ParsedManifest? Fail(string detail, out OciError? error) => Fail<ParsedManifest?>(detail, out error);

    private static T Fail<T>(string detail, out OciError? error)
    {
        error = OciErrorCode.ManifestInvalid.WithDetail(detail);
        return default!;
    }
}
