using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Registry.Tests;

/// <summary>A content descriptor (mediaType, digest, size).</summary>
public sealed record OciDescriptor(string MediaType, string Digest, long Size)
{
    public string Hex => Digest[(Digest.IndexOf(':', StringComparison.Ordinal) + 1)..];

    public JsonObject ToJson() => new() { ["mediaType"] = MediaType, ["digest"] = Digest, ["size"] = Size };
}

/// <summary>An image written to a layout: its manifest, config and gzipped tar layers.</summary>
public sealed record BuiltImage(OciDescriptor Manifest, OciDescriptor Config, IReadOnlyList<OciDescriptor> Layers, IReadOnlyList<string> DiffIds, string Os, string Architecture, string? Variant)
{
    /// <summary>Every blob (config and layers) the manifest references.</summary>
    public IEnumerable<OciDescriptor> Blobs => Layers.Prepend(Config);
}

/// <summary>A multi-platform image index written to a layout, with its platform images.</summary>
public sealed record BuiltIndex(OciDescriptor Index, IReadOnlyList<BuiltImage> Images);

/// <summary>
/// An OCI image layout directory (image-spec "image-layout"): <c>oci-layout</c>, <c>index.json</c>
/// and <c>blobs/sha256/&lt;hex&gt;</c>. Writes real images (gzipped tar layers whose uncompressed
/// digests are the config's <c>rootfs.diff_ids</c>) and reads layouts other tools wrote.
/// </summary>
public sealed class OciLayout
{
    public const string RefName = "org.opencontainers.image.ref.name";
    public const string EmptyType = "application/vnd.oci.empty.v1+json";
    private static readonly DateTimeOffset Epoch = new(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private OciLayout(string root) => Root = root;

    public string Root { get; }

    private string IndexPath => Path.Combine(Root, "index.json");

    /// <summary>Creates an empty layout in <paramref name="root"/> (which must not hold one yet).</summary>
    public static OciLayout Create(string root)
    {
        if (File.Exists(Path.Combine(root, "oci-layout")))
        {
            throw new InvalidOperationException($"{root} already holds an OCI layout");
        }

        Directory.CreateDirectory(Path.Combine(root, "blobs", "sha256"));
        File.WriteAllText(Path.Combine(root, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        var layout = new OciLayout(root);
        layout.WriteIndexJson([]);
        return layout;
    }

    /// <summary>Opens a layout another tool wrote; fails when the marker file or index is missing.</summary>
    public static OciLayout Open(string root)
    {
        var marker = Path.Combine(root, "oci-layout");
        Assert.True(File.Exists(marker), $"{root} has no oci-layout file");
        using var json = JsonDocument.Parse(File.ReadAllBytes(marker));
        Assert.Equal("1.0.0", json.RootElement.GetProperty("imageLayoutVersion").GetString());
        Assert.True(File.Exists(Path.Combine(root, "index.json")), $"{root} has no index.json");
        return new OciLayout(root);
    }

    public OciDescriptor WriteBlob(string mediaType, byte[] content)
    {
        var digest = Oci.Digest(content);
        var path = BlobPath(digest);
        if (!File.Exists(path))
        {
            File.WriteAllBytes(path, content);
        }

        return new OciDescriptor(mediaType, digest, content.Length);
    }

    public byte[] ReadBlob(string digest) => File.ReadAllBytes(BlobPath(digest));

    public bool HasBlob(string digest) => File.Exists(BlobPath(digest));

    /// <summary>
    /// Writes an image with <paramref name="layers"/> gzipped tar layers (the first one a few MiB,
    /// the others small), a config whose diff_ids match them, and its manifest. Content is unique.
    /// </summary>
    public BuiltImage WriteImage(int layers, string os = "linux", string architecture = "amd64", string? variant = null, int firstLayerBytes = 2 * 1024 * 1024)
    {
        var id = Guid.NewGuid().ToString("N");
        var layerDescriptors = new List<OciDescriptor>();
        var diffIds = new List<string>();
        for (var i = 0; i < layers; i++)
        {
            var (gzip, diffId) = MakeLayer($"{architecture}-{id}-layer{i}", files: 2 + i, fileBytes: i == 0 ? firstLayerBytes : 4096 + (i * 512));
            layerDescriptors.Add(WriteBlob(Oci.LayerType, gzip));
            diffIds.Add(diffId);
        }

        var config = new JsonObject
        {
            ["created"] = Epoch.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
            ["architecture"] = architecture,
            ["os"] = os,
            ["config"] = new JsonObject
            {
                ["Env"] = new JsonArray("PATH=/usr/local/bin:/usr/bin:/bin"),
                ["Cmd"] = new JsonArray("/bin/sh"),
                ["Labels"] = new JsonObject { ["test.id"] = id },
            },
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(diffIds.Select(d => (JsonNode)d).ToArray()) },
            ["history"] = new JsonArray(Enumerable.Range(0, layers).Select(i => (JsonNode)new JsonObject { ["created_by"] = $"layer {i} of {id}" }).ToArray()),
        };
        if (variant is not null)
        {
            config["variant"] = variant;
        }

        var configDescriptor = WriteBlob(Oci.ConfigType, Serialize(config));
        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = Oci.ManifestType,
            ["config"] = configDescriptor.ToJson(),
            ["layers"] = new JsonArray(layerDescriptors.Select(l => (JsonNode)l.ToJson()).ToArray()),
            ["annotations"] = new JsonObject { ["org.opencontainers.image.title"] = $"test image {id}" },
        };
        var manifestDescriptor = WriteBlob(Oci.ManifestType, Serialize(manifest));
        return new BuiltImage(manifestDescriptor, configDescriptor, layerDescriptors, diffIds, os, architecture, variant);
    }

    /// <summary>Writes one image per platform and an OCI image index over them.</summary>
    public BuiltIndex WriteMultiArchIndex(int layersPerImage = 2, params (string Os, string Architecture, string? Variant)[] platforms)
    {
        var images = platforms.Select(p => WriteImage(layersPerImage, p.Os, p.Architecture, p.Variant, firstLayerBytes: 256 * 1024)).ToList();
        var index = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = Oci.IndexType,
            ["manifests"] = new JsonArray(images.Select(i => (JsonNode)WithPlatform(i.Manifest.ToJson(), i)).ToArray()),
        };
        return new BuiltIndex(WriteBlob(Oci.IndexType, Serialize(index)), images);
    }

    /// <summary>Adds (or moves) <paramref name="tag"/> in index.json, as org.opencontainers.image.ref.name.</summary>
    public void Tag(OciDescriptor descriptor, string tag)
    {
        var entries = ReadIndexJson().Where(e => e["annotations"]?[RefName]?.GetValue<string>() != tag).ToList();
        var entry = descriptor.ToJson();
        entry["annotations"] = new JsonObject { [RefName] = tag };
        entries.Add(entry);
        WriteIndexJson(entries);
    }

    /// <summary>The descriptor index.json names <paramref name="tag"/> by.</summary>
    public OciDescriptor Resolve(string tag)
    {
        var matches = ReadIndexJson().Where(e => e["annotations"]?[RefName]?.GetValue<string>() == tag).ToList();
        Assert.True(matches.Count == 1, $"index.json of {Root} has {matches.Count} entries named '{tag}'");
        var e = matches[0];
        return new OciDescriptor(e["mediaType"]!.GetValue<string>(), e["digest"]!.GetValue<string>(), e["size"]!.GetValue<long>());
    }

    /// <summary>
    /// The digests reachable from <paramref name="digest"/> (itself, index children, configs, layers);
    /// fails when one of them is not in the layout.
    /// </summary>
    public IReadOnlySet<string> Closure(string digest)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        Walk(digest, isManifest: true);
        return seen;

        void Walk(string d, bool isManifest)
        {
            Assert.True(HasBlob(d), $"{Root} lacks blob {d}");
            if (!seen.Add(d) || !isManifest)
            {
                return;
            }

            var node = JsonNode.Parse(ReadBlob(d))!;
            if (node["manifests"] is JsonArray children)
            {
                foreach (var child in children)
                {
                    Walk(child!["digest"]!.GetValue<string>(), isManifest: true);
                }

                return;
            }

            Walk(node["config"]!["digest"]!.GetValue<string>(), isManifest: false);
            foreach (var layer in node["layers"]?.AsArray() ?? [])
            {
                Walk(layer!["digest"]!.GetValue<string>(), isManifest: false);
            }
        }
    }

    /// <summary>Checks that every blob file's content hashes to its name; returns how many there are.</summary>
    public int VerifyBlobs()
    {
        var count = 0;
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Root, "blobs", "sha256")))
        {
            var expected = "sha256:" + Path.GetFileName(file);
            Assert.Equal(expected, Oci.Digest(File.ReadAllBytes(file)));
            count++;
        }

        return count;
    }

    /// <summary>
    /// A gzipped tar layer: a directory, <paramref name="files"/> files of random bytes and a symlink.
    /// Returns the gzip bytes and the diff_id (digest of the uncompressed tar).
    /// </summary>
    public static (byte[] Gzip, string DiffId) MakeLayer(string label, int files, int fileBytes)
    {
        using var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            var dir = $"data/{label}/";
            writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, dir) { Mode = (UnixFileMode)0b111_101_101, ModificationTime = Epoch });
            for (var i = 0; i < files; i++)
            {
                var content = i == 0 ? Encoding.UTF8.GetBytes($"layer {label}\n") : Oci.RandomBytes(fileBytes);
                writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, $"{dir}file{i}")
                {
                    Mode = (UnixFileMode)0b110_100_100,
                    ModificationTime = Epoch,
                    DataStream = new MemoryStream(content),
                });
            }

            writer.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, $"{dir}link") { LinkName = "file0", ModificationTime = Epoch });
        }

        var tarBytes = tar.ToArray();
        using var gz = new MemoryStream();
        using (var gzip = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(tarBytes);
        }

        return (gz.ToArray(), Oci.Digest(tarBytes));
    }

    /// <summary>The uncompressed tar of a gzipped layer and the names of its entries.</summary>
    public static (string DiffId, IReadOnlyList<string> Entries) ReadLayer(byte[] gzipBytes)
    {
        using var tar = new MemoryStream();
        using (var gzip = new GZipStream(new MemoryStream(gzipBytes), CompressionMode.Decompress))
        {
            gzip.CopyTo(tar);
        }

        var names = new List<string>();
        tar.Position = 0;
        using (var reader = new TarReader(tar, leaveOpen: true))
        {
            while (reader.GetNextEntry() is { } entry)
            {
                names.Add(entry.Name);
            }
        }

        return (Oci.Digest(tar.ToArray()), names);
    }

    public static byte[] Serialize(JsonNode node) => Encoding.UTF8.GetBytes(node.ToJsonString());

    private static JsonObject WithPlatform(JsonObject descriptor, BuiltImage image)
    {
        var platform = new JsonObject { ["architecture"] = image.Architecture, ["os"] = image.Os };
        if (image.Variant is not null)
        {
            platform["variant"] = image.Variant;
        }

        descriptor["platform"] = platform;
        return descriptor;
    }

    private List<JsonObject> ReadIndexJson()
    {
        var index = JsonNode.Parse(File.ReadAllBytes(IndexPath))!;
        return index["manifests"]!.AsArray().Select(m => m!.AsObject().DeepClone().AsObject()).ToList();
    }

    private void WriteIndexJson(IEnumerable<JsonObject> entries)
    {
        var index = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = Oci.IndexType,
            ["manifests"] = new JsonArray(entries.Select(e => (JsonNode)e).ToArray()),
        };
        File.WriteAllBytes(IndexPath, Serialize(index));
    }

    private string BlobPath(string digest)
    {
        Assert.StartsWith("sha256:", digest, StringComparison.Ordinal);
        return Path.Combine(Root, "blobs", "sha256", digest["sha256:".Length..]);
    }
}
