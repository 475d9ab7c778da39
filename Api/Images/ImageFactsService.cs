using System.Text.Json;
using Microsoft.Extensions.Options;
using Registry.Api.Services;
using Registry.Grains;
using Registry.Storage;

namespace Registry.Api.Images;

/// <summary>
/// The facts of an image (layers, platforms, config metadata), read from its manifest and config
/// blob the first time the image API needs them and kept by the image's grain from then on, so
/// each image's config is read once in the registry's life, not per request.
/// </summary>
public sealed class ImageFactsService(IBlobStore store, IGrainFactory grains, ManifestService manifests, IOptions<ImageApiOptions> options, IOptions<ApiOptions> api, TimeProvider time)
{
    /// <summary>The facts of a manifest this caller knows exists (<paramref name="descriptor"/>, from a repository), computing them if needed.</summary>
    public async Task<ImageFacts?> GetAsync(ManifestDescriptor descriptor, CancellationToken ct)
    {
        var image = grains.GetGrain<IImageGrain>(descriptor.Digest);
        if (await image.Get() is { } kept)
        {
            return kept;
        }

        var stored = await manifests.ReadAsync(descriptor, ct);
        return stored is null ? null : await image.Keep(await ComputeAsync(descriptor.Digest, descriptor.MediaType, stored.Content, ct));
    }

    /// <summary>
    /// The facts of a digest no repository was named for: kept ones, or (when the bytes stored
    /// under it are a manifest, content-addressed and therefore that image) computed now; null otherwise.
    /// </summary>
    public async Task<ImageFacts?> GetAsync(string digest, CancellationToken ct)
    {
        var image = grains.GetGrain<IImageGrain>(digest);
        if (await image.Get() is { } kept)
        {
            return kept;
        }

        var size = await store.GetSizeAsync(digest, ct);
        if (size is not { } length || length > api.Value.Limits.MaxManifestBytes)
        {
            return null;
        }

        var content = await ReadAsync(digest, length, ct);
        if (content is null || MediaTypeOf(content) is not { } mediaType)
        {
            return null;
        }

        return await image.Keep(await ComputeAsync(digest, mediaType, content, ct));
    }

    private async Task<ImageFacts> ComputeAsync(string digest, string mediaType, ReadOnlyMemory<byte> manifest, CancellationToken ct)
    {
        using var document = JsonDocument.Parse(manifest);
        var root = document.RootElement;
        var layers = Descriptors(root, "layers").Select(d => new ImageLayer(d.Digest, d.Size, d.MediaType)).ToArray();
        var platforms = Descriptors(root, "manifests").Select(d => new ImagePlatformManifest(d.Digest, d.MediaType, d.Size, d.Platform?.Architecture, d.Platform?.Os, d.Platform?.Variant)).ToArray();
        var config = root.TryGetProperty("config", out var c) && Descriptor(c) is { } cd ? new ImageLayer(cd.Digest, cd.Size, cd.MediaType) : null;
        ImageConfigFacts? facts = null;
        if (config is not null && config.Size <= options.Value.MaxConfigBytes && await ReadAsync(config.Digest, config.Size, ct) is { } bytes)
        {
            facts = ReadConfig(bytes);
        }

        var size = (config?.Size ?? 0) + layers.DistinctBy(l => l.Digest).Sum(l => l.Size);
        return new ImageFacts(digest, mediaType, manifest.Length, config, layers, platforms, facts, size, time.GetUtcNow());
    }

    /// <summary>The media type a manifest's bytes declare, or (for the Docker and OCI shapes without one) imply; null when they are no manifest.</summary>
    private static string? MediaTypeOf(ReadOnlyMemory<byte> content)
    {
        try
        {
            using var document = JsonDocument.Parse(content);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("schemaVersion", out var version) || version.ValueKind != JsonValueKind.Number || version.GetInt32() != 2)
            {
                return null;
            }

            return root.TryGetProperty("mediaType", out var type) && type.ValueKind == JsonValueKind.String
                ? type.GetString()
                : root.TryGetProperty("manifests", out _) ? MediaTypes.OciIndex
                : root.TryGetProperty("config", out _) ? MediaTypes.OciManifest : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static ImageConfigFacts? ReadConfig(byte[] bytes)
    {
        try
        {
            using var document = JsonDocument.Parse(bytes);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            var config = root.TryGetProperty("config", out var c) && c.ValueKind == JsonValueKind.Object ? c : default;
            return new ImageConfigFacts(
                Text(root, "architecture"),
                Text(root, "os"),
                Text(root, "created"),
                Strings(config, "Env"),
                Strings(config, "Cmd"),
                Strings(config, "Entrypoint"),
                Labels(config),
                Text(config, "WorkingDir"),
                Text(config, "User"));
        }
        catch (JsonException)
        {
            // Not an image config (an artifact's config may be anything): the image has no metadata.
            return null;
        }
    }

    private async Task<byte[]?> ReadAsync(string digest, long size, CancellationToken ct)
    {
        await using var stream = await store.OpenReadAsync(digest, 0, ct);
        if (stream is null)
        {
            return null;
        }

        var bytes = new byte[size];
        await stream.ReadExactlyAsync(bytes, ct);
        return bytes;
    }

    private sealed record Platform(string? Architecture, string? Os, string? Variant);

    private sealed record ParsedDescriptor(string Digest, long Size, string MediaType, Platform? Platform);

    private static IEnumerable<ParsedDescriptor> Descriptors(JsonElement root, string property)
        => root.TryGetProperty(property, out var list) && list.ValueKind == JsonValueKind.Array
            ? list.EnumerateArray().Select(Descriptor).OfType<ParsedDescriptor>().ToArray()
            : [];

    private static ParsedDescriptor? Descriptor(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object || Text(element, "digest") is not { } digest)
        {
            return null;
        }

        var size = element.TryGetProperty("size", out var s) && s.ValueKind == JsonValueKind.Number && s.TryGetInt64(out var n) ? n : 0;
        var platform = element.TryGetProperty("platform", out var p) && p.ValueKind == JsonValueKind.Object
            ? new Platform(Text(p, "architecture"), Text(p, "os"), Text(p, "variant"))
            : null;
        return new ParsedDescriptor(digest, size, Text(element, "mediaType") ?? "", platform);
    }

    private static string? Text(JsonElement element, string property)
        => element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string[]? Strings(JsonElement element, string property)
        => element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.Array
            ? value.EnumerateArray().Where(v => v.ValueKind == JsonValueKind.String).Select(v => v.GetString()!).ToArray()
            : null;

    private static Dictionary<string, string>? Labels(JsonElement config)
        => config.ValueKind == JsonValueKind.Object && config.TryGetProperty("Labels", out var labels) && labels.ValueKind == JsonValueKind.Object
            ? labels.EnumerateObject().Where(l => l.Value.ValueKind == JsonValueKind.String).ToDictionary(l => l.Name, l => l.Value.GetString()!, StringComparer.Ordinal)
            : null;
}
