using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Registry.Tests;

/// <summary>The referrers API over plain HTTP: artifacts that name an image as their subject.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ReferrersTests
{
    private const string SbomType = "application/vnd.example.sbom";
    private const string SignatureConfigType = "application/vnd.example.signature.config.v1+json";

    [Fact]
    public async Task ArtifactWithSubjectIsListedAndFilteredByArtifactType()
    {
        var (client, name, imageDigest, subject) = await PushSubjectAsync();

        // An SBOM artifact: the empty config, one layer, an artifactType and annotations.
        var empty = "{}"u8.ToArray();
        Assert.Equal("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", await client.PushBlobAsync(name, empty));
        var sbom = Encoding.UTF8.GetBytes($"{{\"spdxVersion\":\"SPDX-2.3\",\"name\":\"{Guid.NewGuid():N}\"}}");
        await client.PushBlobAsync(name, sbom);
        var annotations = new Dictionary<string, string>
        {
            ["org.opencontainers.image.created"] = "2024-01-01T00:00:00Z",
            ["org.example.sbom.format"] = "spdx",
        };
        var artifact = OciLayout.Serialize(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = Oci.ManifestType,
            ["artifactType"] = SbomType,
            ["config"] = new JsonObject { ["mediaType"] = E2eHttp.EmptyJsonType, ["digest"] = Oci.Digest(empty), ["size"] = 2, ["data"] = "e30=" },
            ["layers"] = new JsonArray(new JsonObject { ["mediaType"] = "application/spdx+json", ["digest"] = Oci.Digest(sbom), ["size"] = sbom.Length }),
            ["subject"] = subject.DeepClone(),
            ["annotations"] = new JsonObject(annotations.Select(a => KeyValuePair.Create(a.Key, (JsonNode?)a.Value))),
        });
        var artifactDigest = Oci.Digest(artifact);
        using (var put = await client.PutManifestAsync(name, artifactDigest, artifact))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
            Assert.Equal(imageDigest, put.Header("OCI-Subject"));
            Assert.Equal(artifactDigest, put.Header("Docker-Content-Digest"));
        }

        // A signature-like artifact without artifactType: it is listed under its config media type.
        var signatureConfig = Encoding.UTF8.GetBytes($"{{\"signed\":\"{Guid.NewGuid():N}\"}}");
        await client.PushBlobAsync(name, signatureConfig);
        var signature = OciLayout.Serialize(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = Oci.ManifestType,
            ["config"] = new JsonObject { ["mediaType"] = SignatureConfigType, ["digest"] = Oci.Digest(signatureConfig), ["size"] = signatureConfig.Length },
            ["layers"] = new JsonArray(),
            ["subject"] = subject.DeepClone(),
        });
        using (var put = await client.PutManifestAsync(name, "sig", signature))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
            Assert.Equal(imageDigest, put.Header("OCI-Subject"));
        }

        // The artifact itself is stored byte for byte.
        Assert.Equal(artifact, (await client.GetManifestAsync(name, artifactDigest, Oci.ManifestType)).Content);

        // Unfiltered: both, with artifactType (or the config type) and annotations.
        var (all, allFiltered) = await ReferrersAsync(client, name, imageDigest);
        Assert.False(allFiltered);
        Assert.Equal(2, all.Count);
        var listedSbom = Assert.Single(all, d => d.GetProperty("digest").GetString() == artifactDigest);
        Assert.Equal(Oci.ManifestType, listedSbom.GetProperty("mediaType").GetString());
        Assert.Equal(artifact.Length, listedSbom.GetProperty("size").GetInt64());
        Assert.Equal(SbomType, listedSbom.GetProperty("artifactType").GetString());
        Assert.Equal(annotations.OrderBy(a => a.Key, StringComparer.Ordinal), listedSbom.GetProperty("annotations").EnumerateObject().Select(p => KeyValuePair.Create(p.Name, p.Value.GetString()!)).OrderBy(a => a.Key, StringComparer.Ordinal));
        var listedSignature = Assert.Single(all, d => d.GetProperty("digest").GetString() == Oci.Digest(signature));
        Assert.Equal(SignatureConfigType, listedSignature.GetProperty("artifactType").GetString());
        Assert.Equal(signature.Length, listedSignature.GetProperty("size").GetInt64());

        // Filtered by artifactType: only the SBOM, and the filter is reported as applied.
        var (sboms, sbomFiltered) = await ReferrersAsync(client, name, imageDigest, SbomType);
        Assert.True(sbomFiltered);
        Assert.Equal(artifactDigest, Assert.Single(sboms).GetProperty("digest").GetString());

        var (signatures, _) = await ReferrersAsync(client, name, imageDigest, SignatureConfigType);
        Assert.Equal(Oci.Digest(signature), Assert.Single(signatures).GetProperty("digest").GetString());

        var (none, noneFiltered) = await ReferrersAsync(client, name, imageDigest, "application/vnd.example.nothing");
        Assert.True(noneFiltered);
        Assert.Empty(none);

        // An unknown subject is an empty index, not a 404.
        var (unknown, _) = await ReferrersAsync(client, name, Oci.Digest(Oci.RandomBytes(32)));
        Assert.Empty(unknown);

        // The artifacts refer to the image, not the other way round.
        var (ofArtifact, _) = await ReferrersAsync(client, name, artifactDigest);
        Assert.Empty(ofArtifact);
    }

    [Fact]
    public async Task AnEmptyArtifactTypeCountsAsMissing()
    {
        var (client, name, imageDigest, subject) = await PushSubjectAsync();
        var signatureConfig = Encoding.UTF8.GetBytes($"{{\"signed\":\"{Guid.NewGuid():N}\"}}");
        await client.PushBlobAsync(name, signatureConfig);

        // An image manifest with "artifactType": "" is listed under its config's media type ...
        var signature = OciLayout.Serialize(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = Oci.ManifestType,
            ["artifactType"] = "",
            ["config"] = new JsonObject { ["mediaType"] = SignatureConfigType, ["digest"] = Oci.Digest(signatureConfig), ["size"] = signatureConfig.Length },
            ["layers"] = new JsonArray(),
            ["subject"] = subject.DeepClone(),
        });
        using (var put = await client.PutManifestAsync(name, Oci.Digest(signature), signature))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        // ... and an index with one is listed without any.
        var index = OciLayout.Serialize(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = Oci.IndexType,
            ["artifactType"] = "",
            ["manifests"] = new JsonArray(subject.DeepClone()),
            ["subject"] = subject.DeepClone(),
        });
        using (var put = await client.PutManifestAsync(name, Oci.Digest(index), index, Oci.IndexType))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        var (all, _) = await ReferrersAsync(client, name, imageDigest);
        Assert.Equal(2, all.Count);
        var listedSignature = Assert.Single(all, d => d.GetProperty("digest").GetString() == Oci.Digest(signature));
        Assert.Equal(SignatureConfigType, listedSignature.GetProperty("artifactType").GetString());
        var listedIndex = Assert.Single(all, d => d.GetProperty("digest").GetString() == Oci.Digest(index));
        Assert.False(listedIndex.TryGetProperty("artifactType", out _));

        var (signatures, filtered) = await ReferrersAsync(client, name, imageDigest, SignatureConfigType);
        Assert.True(filtered);
        Assert.Equal(Oci.Digest(signature), Assert.Single(signatures).GetProperty("digest").GetString());
    }

    [Fact]
    public async Task ArtifactIsAcceptedBeforeItsSubjectExists()
    {
        var host = await SharedRegistry.GetAsync();
        var client = host.Client;
        var name = SharedRegistry.UniqueName("ns");
        var empty = "{}"u8.ToArray();
        await client.PushBlobAsync(name, empty);

        // The subject is pushed afterwards (the spec requires a missing subject to be accepted).
        var config = Encoding.UTF8.GetBytes($"{{\"architecture\":\"amd64\",\"os\":\"linux\",\"n\":\"{Guid.NewGuid():N}\"}}");
        var layer = Oci.RandomBytes(512);
        var image = Oci.ImageManifest(config, [layer]);
        var imageDigest = Oci.Digest(image);
        var artifact = OciLayout.Serialize(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = Oci.ManifestType,
            ["artifactType"] = SbomType,
            ["config"] = new JsonObject { ["mediaType"] = E2eHttp.EmptyJsonType, ["digest"] = Oci.Digest(empty), ["size"] = 2 },
            ["layers"] = new JsonArray(new JsonObject { ["mediaType"] = E2eHttp.EmptyJsonType, ["digest"] = Oci.Digest(empty), ["size"] = 2 }),
            ["subject"] = new JsonObject { ["mediaType"] = Oci.ManifestType, ["digest"] = imageDigest, ["size"] = image.Length },
        });
        using (var put = await client.PutManifestAsync(name, Oci.Digest(artifact), artifact))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
            Assert.Equal(imageDigest, put.Header("OCI-Subject"));
        }

        var (before, _) = await ReferrersAsync(client, name, imageDigest);
        Assert.Equal(Oci.Digest(artifact), Assert.Single(before).GetProperty("digest").GetString());

        await client.PushBlobAsync(name, config);
        await client.PushBlobAsync(name, layer);
        using (var put = await client.PutManifestAsync(name, "v1", image))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        var (after, _) = await ReferrersAsync(client, name, imageDigest);
        Assert.Equal(Oci.Digest(artifact), Assert.Single(after).GetProperty("digest").GetString());
    }

    /// <summary>GETs the referrers index: 200, an OCI index, its descriptors and whether a filter was applied.</summary>
    /// <summary>An image tagged v1 in a fresh repository, and its descriptor to name as a subject.</summary>
    private static async Task<(HttpClient Client, string Name, string Digest, JsonObject Subject)> PushSubjectAsync()
    {
        var client = (await SharedRegistry.GetAsync()).Client;
        var name = SharedRegistry.UniqueName("ns");
        var (digest, manifest) = await client.PushImageAsync(name, "v1");
        return (client, name, digest, new JsonObject { ["mediaType"] = Oci.ManifestType, ["digest"] = digest, ["size"] = manifest.Length });
    }

    private static async Task<(List<JsonElement> Manifests, bool Filtered)> ReferrersAsync(HttpClient client, string name, string digest, string? artifactType = null)
    {
        var path = $"/v2/{name}/referrers/{digest}" + (artifactType is null ? "" : "?artifactType=" + Uri.EscapeDataString(artifactType));
        using var response = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Oci.IndexType, response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync());
        var root = json.RootElement;
        Assert.Equal(2, root.GetProperty("schemaVersion").GetInt32());
        Assert.Equal(Oci.IndexType, root.GetProperty("mediaType").GetString());
        var filtered = response.Headers.TryGetValues("OCI-Filters-Applied", out var applied);
        if (filtered)
        {
            Assert.Equal("artifactType", string.Join(",", applied!));
        }

        return (root.GetProperty("manifests").EnumerateArray().Select(e => e.Clone()).ToList(), filtered);
    }
}
