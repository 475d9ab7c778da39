using System.Net;
using System.Net.Sockets;
using System.Text;
using Registry.Storage;

namespace Registry.Tests;

/// <summary>Faults found by probing a running registry with malformed and abandoned requests; each stays fixed.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ProbeFindingsTests
{
    private const string Bad = "@@BAD@@";

    /// <summary>Where in a manifest a string with invalid UTF-8 is put.</summary>
    public static TheoryData<string> InvalidUtf8Places() => ["annotation", "mediaType", "artifactType", "layerMediaType", "subjectDigest"];

    [Theory]
    [MemberData(nameof(InvalidUtf8Places))]
    public async Task InvalidUtf8InAnyStringOfAManifestIsManifestInvalidAndStoresNothing(string place)
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("utf8");
        var config = Oci.Json(new { architecture = "amd64", os = "linux" });
        var layer = Oci.RandomBytes(100);
        await host.Client.PushBlobAsync(name, config);
        await host.Client.PushBlobAsync(name, layer);
        var manifest = new Dictionary<string, object>
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = place == "mediaType" ? Bad : Oci.ManifestType,
            ["config"] = Oci.Descriptor("application/vnd.oci.image.config.v1+json", config),
            ["layers"] = new[] { place == "layerMediaType" ? new { mediaType = Bad, digest = Oci.Digest(layer), size = layer.Length } : new { mediaType = "application/vnd.oci.image.layer.v1.tar", digest = Oci.Digest(layer), size = layer.Length } },
        };
        switch (place)
        {
            case "annotation": manifest["annotations"] = new Dictionary<string, string> { ["org.example"] = Bad }; break;
            case "artifactType": manifest["artifactType"] = Bad; break;
            case "subjectDigest": manifest["subject"] = new { mediaType = Oci.ManifestType, digest = Bad, size = 10 }; break;
        }

        // 0xC3 0x28: a two-byte sequence whose second byte is not a continuation byte.
        var bytes = ReplaceBad(Oci.Json(manifest), [0xC3, 0x28]);
        using var put = await host.Client.PutManifestAsync(name, "v1", bytes);

        await put.AssertErrorAsync(HttpStatusCode.BadRequest, "MANIFEST_INVALID");
        using var byTag = await host.Client.GetAsync($"/v2/{name}/manifests/v1");
        Assert.Equal(HttpStatusCode.NotFound, byTag.StatusCode);
        using var byDigest = await host.Client.GetAsync($"/v2/{name}/manifests/{Oci.Digest(bytes)}");
        Assert.Equal(HttpStatusCode.NotFound, byDigest.StatusCode);
    }

    public static TheoryData<string> DotSegmentTargets() =>
    [
        "/v2/a/../b/blobs/uploads/",
        "/v2/a/%2e%2e/b/blobs/uploads/",
        "/v2/a/%2E%2E/b/blobs/uploads/",
        "/v2/a/./b/blobs/uploads/",
        "/v2/a/%2e/b/blobs/uploads/",
        "/v2/../livez",
    ];

    [Theory]
    [MemberData(nameof(DotSegmentTargets))]
    public async Task ADotSegmentInTheRequestTargetIsNameInvalidAndStartsNothing(string target)
    {
        await using var host = await RegistryHost.StartAsync();

        var (status, body) = await RawAsync(host, $"POST {target} HTTP/1.1\r\nHost: {host.Authority}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");

        Assert.Equal(400, status);
        Assert.Contains("\"code\":\"NAME_INVALID\"", body, StringComparison.Ordinal);
        Assert.Empty(Directory.GetDirectories(Path.Combine(host.DataDirectory, StorageLayout.UploadsDirectory)));
    }

    [Theory]
    [InlineData("GET", "/nothing")]
    [InlineData("POST", "/v3/a/blobs/uploads/")]
    [InlineData("DELETE", "/")]
    public async Task ARequestOutsideTheApiGetsAnErrorBody(string method, string path)
    {
        var host = await SharedRegistry.GetAsync();

        using var response = await host.Client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        await response.AssertErrorAsync(HttpStatusCode.NotFound, "NAME_UNKNOWN");
        using var live = await host.Client.GetAsync("/livez");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }

    [Theory]
    [InlineData("/v2/a/../b", true)]
    [InlineData("/v2/a/./b", true)]
    [InlineData("/v2/a/%2e%2E/b", true)]
    [InlineData("/v2/a/.%2e/b", true)]
    [InlineData("/v2/..", true)]
    [InlineData("/v2/a/b/manifests/v1.2.3", false)]
    [InlineData("/v2/a/.../b", false)]
    [InlineData("/v2/a/.hidden/b", false)]
    [InlineData("/v2/a/b%2e/c", false)]
    [InlineData("/v2/a/b/tags/list?last=../x", false)]
    [InlineData("/v2/", false)]
    [InlineData("", false)]
    public void DotSegmentsAreFoundInThePathOnly(string target, bool found)
        => Assert.Equal(found, Registry.Api.Extensions.OciEndpointExtensions.HasDotSegment(target));

    /// <summary>
    /// A NUL in the path is refused by Kestrel while it parses the request line, before any of the
    /// registry's code runs: a 400 with no body (no hook gives it one; docs/api.md says why), the
    /// connection closed by the server, nothing started, and the registry serving the next connection.
    /// </summary>
    [Theory]
    [InlineData("GET", "/v2/a%00b/tags/list")]
    [InlineData("POST", "/v2/a%00b/blobs/uploads/")]
    [InlineData("PUT", "/v2/a/b/manifests/v1%00")]
    public async Task ARequestKestrelRefusesIsAnEmpty400ThatClosesTheConnectionAndStartsNothing(string method, string target)
    {
        await using var host = await RegistryHost.StartAsync();

        // No "Connection: close": reading to the end returns only because the server closes.
        var (status, head, body) = await RawWithHeadAsync(host, $"{method} {target} HTTP/1.1\r\nHost: {host.Authority}\r\nContent-Length: 0\r\n\r\n");

        Assert.Equal(400, status);
        Assert.Contains("Content-Length: 0", head, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Connection: close", head, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(body);
        var uploads = Path.Combine(host.DataDirectory, StorageLayout.UploadsDirectory);
        Assert.True(!Directory.Exists(uploads) || Directory.GetFileSystemEntries(uploads).Length == 0);
        using var catalog = await host.Client.GetAsync("/v2/_catalog");
        Assert.Equal(HttpStatusCode.OK, catalog.StatusCode);
        Assert.Contains("\"repositories\":[]", await catalog.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AMonolithicUploadWhoseClientGoesAwayLeavesNoStagingBehind()
    {
        await using var host = await RegistryHost.StartAsync();
        var uploads = Path.Combine(host.DataDirectory, StorageLayout.UploadsDirectory);
        var content = Oci.RandomBytes(64 * 1024);

        // The body announced is longer than what is sent before the client closes its side.
        using (var client = new TcpClient())
        {
            await client.ConnectAsync(IPAddress.Loopback, host.BaseAddress.Port);
            var stream = client.GetStream();
            var head = $"POST /v2/gone/app/blobs/uploads/?digest={Oci.Digest(content)} HTTP/1.1\r\nHost: {host.Authority}\r\nContent-Type: application/octet-stream\r\nContent-Length: {content.Length * 4}\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
            await stream.WriteAsync(content);
            await stream.FlushAsync();
        }

        // The request fails on the server's side after the close; then nothing it created remains.
        await Poll.UntilAsync(() => Task.FromResult(Directory.Exists(uploads) && Directory.GetFileSystemEntries(uploads).Length == 0), "the aborted upload's staging is removed");
        using var head2 = await host.Client.SendAsync(HttpMethod.Head, $"/v2/gone/app/blobs/{Oci.Digest(content)}");
        Assert.Equal(HttpStatusCode.NotFound, head2.StatusCode);
    }

    private static byte[] ReplaceBad(byte[] json, byte[] with)
    {
        var marker = Encoding.ASCII.GetBytes(Bad);
        var at = json.AsSpan().IndexOf(marker);
        Assert.True(at >= 0);
        return [.. json.AsSpan(0, at), .. with, .. json.AsSpan(at + marker.Length)];
    }

    /// <summary>Sends a request exactly as written (no client normalises its path) and reads the status and body.</summary>
    private static async Task<(int Status, string Body)> RawAsync(RegistryHost host, string request)
    {
        var (status, _, body) = await RawWithHeadAsync(host, request);
        return (status, body);
    }

    /// <summary>Like <see cref="RawAsync"/>, with the response's status line and headers.</summary>
    private static async Task<(int Status, string Head, string Body)> RawWithHeadAsync(RegistryHost host, string request)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, host.BaseAddress.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var response = await reader.ReadToEndAsync().WaitAsync(Bounded.Timeout);
        var status = int.Parse(response.Split(' ', 3)[1], System.Globalization.CultureInfo.InvariantCulture);
        var end = response.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        return (status, response[..end], response[(end + 4)..]);
    }
}
