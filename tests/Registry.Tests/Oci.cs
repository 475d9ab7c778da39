using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Registry.Tests;

/// <summary>Small client-side helpers that speak the distribution API the way clients do.</summary>
public static class Oci
{
    public const string ManifestType = "application/vnd.oci.image.manifest.v1+json";
    public const string IndexType = "application/vnd.oci.image.index.v1+json";
    public const string ConfigType = "application/vnd.oci.image.config.v1+json";
    public const string LayerType = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string DockerManifestType = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerListType = "application/vnd.docker.distribution.manifest.list.v2+json";

    public static string Digest(byte[] content) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));

    public static string Sha512(byte[] content) => "sha512:" + Convert.ToHexStringLower(SHA512.HashData(content));

    public static byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        Random.Shared.NextBytes(bytes);
        return bytes;
    }

    /// <summary>Pushes a blob in one POST and returns its digest.</summary>
    public static async Task<string> PushBlobAsync(this HttpClient client, string name, byte[] content)
    {
        var digest = Digest(content);
        using var response = await client.PostAsync($"/v2/{name}/blobs/uploads/?digest={digest}", Octets(content));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return digest;
    }

    public static ByteArrayContent Octets(byte[] content, int offset = 0, int? count = null)
    {
        var body = new ByteArrayContent(content, offset, count ?? content.Length - offset);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return body;
    }

    public static object Descriptor(string mediaType, byte[] content) => new { mediaType, digest = Digest(content), size = content.Length };

    public static byte[] Json(object value) => JsonSerializer.SerializeToUtf8Bytes(value);

    /// <summary>An image manifest over the given config and layers (which are not pushed).</summary>
    public static byte[] ImageManifest(byte[] config, IEnumerable<byte[]> layers, string? artifactType = null, (string Digest, int Size, string MediaType)? subject = null, IDictionary<string, string>? annotations = null)
    {
        var manifest = new Dictionary<string, object>
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = ManifestType,
            ["config"] = Descriptor(ConfigType, config),
            ["layers"] = layers.Select(l => Descriptor(LayerType, l)).ToArray(),
        };
        if (artifactType is not null)
        {
            manifest["artifactType"] = artifactType;
        }

        if (subject is { } s)
        {
            manifest["subject"] = new { mediaType = s.MediaType, digest = s.Digest, size = s.Size };
        }

        if (annotations is not null)
        {
            manifest["annotations"] = annotations;
        }

        return Json(manifest);
    }

    /// <summary>Pushes config and layers, then the manifest under <paramref name="reference"/>; returns the manifest.</summary>
    public static async Task<(string Digest, byte[] Manifest)> PushImageAsync(this HttpClient client, string name, string reference, int layers = 2)
    {
        var config = Encoding.UTF8.GetBytes($"{{\"architecture\":\"amd64\",\"os\":\"linux\",\"n\":\"{Guid.NewGuid():N}\"}}");
        await client.PushBlobAsync(name, config);
        var layerBytes = new List<byte[]>();
        for (var i = 0; i < layers; i++)
        {
            var layer = RandomBytes(1024 + i);
            await client.PushBlobAsync(name, layer);
            layerBytes.Add(layer);
        }

        var manifest = ImageManifest(config, layerBytes);
        using var response = await client.PutManifestAsync(name, reference, manifest);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (Digest(manifest), manifest);
    }

    public static Task<HttpResponseMessage> PutManifestAsync(this HttpClient client, string name, string reference, byte[] manifest, string mediaType = ManifestType)
    {
        var body = new ByteArrayContent(manifest);
        body.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        return client.PutAsync($"/v2/{name}/manifests/{reference}", body);
    }

    public static async Task<HttpResponseMessage> SendAsync(this HttpClient client, HttpMethod method, string path, HttpContent? content = null, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        foreach (var (headerName, value) in headers)
        {
            if (!request.Headers.TryAddWithoutValidation(headerName, value))
            {
                content!.Headers.TryAddWithoutValidation(headerName, value);
            }
        }

        return await client.SendAsync(request);
    }

    /// <summary>Asserts the status and the OCI error envelope's code.</summary>
    public static async Task AssertErrorAsync(this HttpResponseMessage response, HttpStatusCode status, string code)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var error = json.RootElement.GetProperty("errors")[0];
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
    }

    public static string Header(this HttpResponseMessage response, string name)
        => response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values)
            ? string.Join(",", values)
            : throw new Xunit.Sdk.XunitException($"response has no {name} header");
}
