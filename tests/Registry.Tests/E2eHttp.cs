using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Registry.Tests;

/// <summary>A manifest as the registry served it.</summary>
public sealed record ServedManifest(string Digest, string ContentType, byte[] Content)
{
    public JsonElement Json
    {
        get
        {
            using var document = JsonDocument.Parse(Content);
            return document.RootElement.Clone();
        }
    }
}

/// <summary>HTTP reads the end-to-end tests use to check what clients left in the registry.</summary>
public static class E2eHttp
{
    public const string EmptyJsonType = "application/vnd.oci.empty.v1+json";

    public static readonly string[] AllManifestTypes = [Oci.ManifestType, Oci.IndexType, Oci.DockerManifestType, Oci.DockerListType];

    /// <summary>GETs a manifest, asserting 200 and that the digest header matches the bytes.</summary>
    public static async Task<ServedManifest> GetManifestAsync(this HttpClient client, string name, string reference, params string[] accept)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v2/{name}/manifests/{reference}");
        foreach (var type in accept.Length == 0 ? AllManifestTypes : accept)
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
        }

        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET manifest {name}:{reference} answered {(int)response.StatusCode}: {System.Text.Encoding.UTF8.GetString(body)}");
        var digest = response.Header("Docker-Content-Digest");
        Assert.Equal(Oci.Digest(body), digest);
        return new ServedManifest(digest, response.Content.Headers.ContentType?.MediaType ?? "", body);
    }

    /// <summary>GETs a blob and asserts it is served whole, with its digest header.</summary>
    public static async Task<byte[]> GetBlobAsync(this HttpClient client, string name, string digest)
    {
        using var response = await client.GetAsync($"/v2/{name}/blobs/{digest}");
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET blob {name}@{digest} answered {(int)response.StatusCode}");
        Assert.Equal(digest, response.Header("Docker-Content-Digest"));
        var body = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal(digest, Oci.Digest(body));
        return body;
    }

    /// <summary>HEADs a blob and returns its Content-Length, asserting 200.</summary>
    public static async Task<long> HeadBlobAsync(this HttpClient client, string name, string digest)
    {
        using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/{name}/blobs/{digest}"));
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"HEAD blob {name}@{digest} answered {(int)response.StatusCode}");
        return response.Content.Headers.ContentLength ?? -1;
    }

    public static async Task<string[]> ListTagsAsync(this HttpClient client, string name)
    {
        using var response = await client.GetAsync($"/v2/{name}/tags/list");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(name, json.RootElement.GetProperty("name").GetString());
        return json.RootElement.GetProperty("tags").EnumerateArray().Select(t => t.GetString()!).ToArray();
    }

    /// <summary>Every repository of the catalog, following its Link pages.</summary>
    public static async Task<List<string>> CatalogAsync(this HttpClient client)
    {
        var names = new List<string>();
        string? next = "/v2/_catalog?n=1000";
        for (var pages = 0; next is not null && pages < 1000; pages++)
        {
            using var response = await client.GetAsync(next);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            names.AddRange(json.RootElement.GetProperty("repositories").EnumerateArray().Select(r => r.GetString()!));
            next = response.Headers.TryGetValues("Link", out var link) ? link.First().Split('<', '>')[1] : null;
        }

        return names;
    }
}
