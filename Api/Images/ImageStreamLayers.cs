using System.Text.Json;
using System.Text.Json.Serialization;
using Registry.Api.Kube;

namespace Registry.Api.Images;

/// <summary>
/// <c>GET …/namespaces/{ns}/imagestreams/{name}/layers</c>: every image the stream's history
/// names (and the images of each index), with its layers, config and manifests, and every blob
/// with its size and media type; built from the facts the read side keeps per image. A stream
/// naming more than <see cref="MaxImages"/> images is refused (413) rather than answered in part:
/// a client checks blob access against this, so a partial answer would be a wrong one.
/// </summary>
public sealed class ImageStreamLayersReader(ImageStreamReader streams, ImageFactsService facts, IImageApiAccess access)
{
    public const string Subresource = "layers";

    /// <summary>The most images (history entries and the images of indexes, counted once) one answer holds.</summary>
    public const int MaxImages = 1000;

    public async Task<IResult> HandleAsync(HttpContext context, string ns, string name)
    {
        if (context.Request.Method != "GET")
        {
            return KubeStatus.MethodNotAllowed($"{context.Request.Method} is not supported on imagestreams/{Subresource} (only GET)").WithHeader("Allow", "GET");
        }

        if (!ImageNames.IsNamespace(ns))
        {
            return KubeStatus.BadRequest($"namespace \"{ns}\" is not valid: a namespace of the image API is a DNS label (at most 63 of a-z, 0-9 and '-') and the first component of a repository name");
        }

        if (ImageNames.RepositoryOf(ns, name) is not { } repository)
        {
            return KubeStatus.BadRequest($"\"{name}\" is not a valid image stream name: the namespace and the name, with '~' for '/', must make a repository name (lowercase components of a-z, 0-9 and '.', '_', '-')");
        }

        if (await access.CheckAsync(context, ImageAccessNeed.Of("imagestreams", "get", repository, ns)) is { } refused)
        {
            return refused;
        }

        if (await streams.GetAsync(repository) is not { } view)
        {
            return KubeStatus.NotFound($"imagestreams.{ImageObjects.Group} \"{name}\" not found");
        }

        var blobs = new SortedDictionary<string, ImageLayerData>(StringComparer.Ordinal);
        var images = new SortedDictionary<string, ImageBlobReferences>(StringComparer.Ordinal);
        var pending = new Queue<string>(view.Tags.SelectMany(t => t.History).Select(h => h.Digest).Distinct(StringComparer.Ordinal));
        var seen = new HashSet<string>(pending, StringComparer.Ordinal);
        while (pending.TryDequeue(out var digest))
        {
            if (seen.Count > MaxImages)
            {
                return new KubeStatus(413, "RequestEntityTooLarge", $"image stream {ns}/{name} names more than {MaxImages} images (its history and the images of its indexes): its layers are not listed; prune its history");
            }

            var kept = await streams.ManifestAsync(repository, digest) is { } descriptor ? await facts.GetAsync(descriptor, context.RequestAborted) : null;
            if (kept is null)
            {
                images[digest] = new ImageBlobReferences(true, [], null, null);
                continue;
            }

            foreach (var blob in kept.Layers.Append(kept.ConfigBlob).OfType<Grains.ImageLayer>())
            {
                blobs[blob.Digest] = new ImageLayerData(blob.Size, blob.MediaType);
            }

            var children = kept.Manifests.Select(m => m.Digest).ToArray();
            foreach (var child in children.Where(seen.Add))
            {
                pending.Enqueue(child);
            }

            images[digest] = new ImageBlobReferences(false, kept.Layers.Select(l => l.Digest).ToArray(), kept.ConfigBlob?.Digest, children.Length > 0 ? children : null);
        }

        var layers = new ImageStreamLayers("ImageStreamLayers", ImageObjects.ApiVersion, ImageObjects.StreamMeta(repository, ns, name, view), blobs, images);
        return Results.Text(JsonSerializer.Serialize(layers, ImageLayersJsonContext.Default.ImageStreamLayers), "application/json");
    }
}

/// <summary>An image stream's images and blobs (<c>ImageStreamLayers</c>): digest → references, digest → size and type.</summary>
public sealed record ImageStreamLayers(string Kind, string ApiVersion, ObjectMeta Metadata, IDictionary<string, ImageLayerData> Blobs, IDictionary<string, ImageBlobReferences> Images);

public sealed record ImageLayerData(long Size, string MediaType);

/// <summary>What one image refers to; <see cref="ImageMissing"/> when the stream names an image it no longer holds.</summary>
public sealed record ImageBlobReferences(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] bool ImageMissing,
    IReadOnlyList<string> Layers,
    string? Config,
    IReadOnlyList<string>? Manifests);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ImageStreamLayers))]
internal sealed partial class ImageLayersJsonContext : JsonSerializerContext;
