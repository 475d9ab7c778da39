using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;

namespace Registry.Bench;

/// <summary>The few OCI distribution calls the benchmark makes, against one loopback base URL.</summary>
public sealed class RegistryClient : IDisposable
{
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar+gzip";

    private readonly HttpClient _http;

    public RegistryClient(Uri baseUri, int maxConnections = 16)
    {
        Base = baseUri;
        _http = CreateHttpClient(maxConnections);
    }

    /// <summary>A client over <paramref name="http"/> (e.g. one sending credentials, <see cref="CreateHttpClient(int, Func{AuthenticationHeaderValue?}?)"/>); disposing it disposes that.</summary>
    public RegistryClient(Uri baseUri, HttpClient http)
    {
        Base = baseUri;
        _http = http;
    }

    public Uri Base { get; }

    public HttpClient Http => _http;

    /// <summary>No redirects, no proxy, no cookies, no decompression: only the registry's own bytes on loopback.</summary>
    /// <param name="authorization">The <c>Authorization</c> header of every request, when given (null: none).</param>
    public static HttpClient CreateHttpClient(int maxConnections, Func<AuthenticationHeaderValue?>? authorization = null)
    {
        var sockets = Handler(maxConnections);
        return new(authorization is null ? sockets : new Authorizing(authorization) { InnerHandler = sockets })
        {
            Timeout = TimeSpan.FromMinutes(10),
        };
    }

    private static SocketsHttpHandler Handler(int maxConnections) => new()
    {
        AllowAutoRedirect = false,
        UseProxy = false,
        UseCookies = false,
        AutomaticDecompression = DecompressionMethods.None,
        MaxConnectionsPerServer = maxConnections,
        ConnectTimeout = TimeSpan.FromSeconds(10),
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
    };

    /// <summary>Sets the current credentials on every request, as a logged-in client does.</summary>
    private sealed class Authorizing(Func<AuthenticationHeaderValue?> authorization) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Headers.Authorization = authorization();
            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>Resolves a path or a Location header against the base URL; refuses anything off the registry's host and port.</summary>
    public Uri Resolve(string pathOrUrl)
    {
        var uri = new Uri(Base, pathOrUrl);
        if (!string.Equals(uri.Authority, Base.Authority, StringComparison.OrdinalIgnoreCase) || uri.Scheme != Base.Scheme)
        {
            throw new BenchException($"the registry pointed to {uri.GetLeftPart(UriPartial.Authority)}, which is not {Base.GetLeftPart(UriPartial.Authority)}; refusing to follow");
        }

        return uri;
    }

    public async Task<bool> PingAsync(CancellationToken ct)
    {
        using var response = await _http.GetAsync(Resolve("/v2/"), ct);
        return response.StatusCode == HttpStatusCode.OK;
    }

    /// <summary><c>POST /v2/&lt;name&gt;/blobs/uploads/</c> → 202 and the session's Location.</summary>
    public async Task<Uri> StartUploadAsync(string repository, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Resolve($"/v2/{repository}/blobs/uploads/"))
        {
            Content = new ByteArrayContent([]),
        };
        using var response = await _http.SendAsync(request, ct);
        await ExpectAsync(response, HttpStatusCode.Accepted, "start upload");
        return LocationOf(response);
    }

    /// <summary>Whole blob in one PUT after a POST (the reference 2.8.2 has no single-POST upload).</summary>
    public async Task PushMonolithicAsync(string repository, PatternBlob blob, CancellationToken ct)
    {
        var location = await StartUploadAsync(repository, ct);
        using var request = new HttpRequestMessage(HttpMethod.Put, WithDigest(location, blob.Digest)) { Content = blob.Content(0, blob.Size) };
        using var response = await _http.SendAsync(request, ct);
        await ExpectAsync(response, HttpStatusCode.Created, "monolithic PUT");
        ExpectDigest(response, blob.Digest);
    }

    /// <summary>Whole blob in one <c>POST ?digest=</c>; false when the registry answered 202 (not supported).</summary>
    public async Task<bool> TryPushSinglePostAsync(string repository, PatternBlob blob, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Resolve($"/v2/{repository}/blobs/uploads/?digest={blob.Digest}")) { Content = blob.Content(0, blob.Size) };
        using var response = await _http.SendAsync(request, ct);
        if (response.StatusCode == HttpStatusCode.Accepted)
        {
            // The registry opened a session and ignored the body: clean it up.
            if (response.Headers.Location is not null)
            {
                using var cancel = await _http.DeleteAsync(Resolve(response.Headers.Location.OriginalString), ct);
            }

            return false;
        }

        await ExpectAsync(response, HttpStatusCode.Created, "single-POST upload");
        return true;
    }

    /// <summary>POST, PATCH chunks with <c>Content-Range</c>, final empty <c>PUT ?digest=</c>.</summary>
    public async Task PushChunkedAsync(string repository, PatternBlob blob, long chunkSize, CancellationToken ct)
    {
        var location = await StartUploadAsync(repository, ct);
        var chunks = (blob.Size + chunkSize - 1) / chunkSize;
        for (long i = 0, offset = 0; i < chunks; i++, offset += chunkSize)
        {
            var length = Math.Min(chunkSize, blob.Size - offset);
            using var patch = new HttpRequestMessage(HttpMethod.Patch, location) { Content = blob.Content(offset, length) };
            patch.Content.Headers.TryAddWithoutValidation("Content-Range", $"{offset}-{offset + length - 1}");
            using var response = await _http.SendAsync(patch, ct);
            await ExpectAsync(response, HttpStatusCode.Accepted, $"PATCH chunk {i + 1}/{chunks}");
            var range = response.Headers.TryGetValues("Range", out var values) ? values.FirstOrDefault() : null;
            if (range != $"0-{offset + length - 1}")
            {
                throw new BenchException($"PATCH chunk {i + 1}: Range '{range}', expected '0-{offset + length - 1}'");
            }

            location = LocationOf(response);
        }

        using var put = new HttpRequestMessage(HttpMethod.Put, WithDigest(location, blob.Digest)) { Content = new ByteArrayContent([]) };
        using var done = await _http.SendAsync(put, ct);
        await ExpectAsync(done, HttpStatusCode.Created, "final PUT");
        ExpectDigest(done, blob.Digest);
    }

    /// <summary>GETs a blob, streaming it into a discarded buffer; returns the bytes received.</summary>
    public async Task<long> PullAsync(string repository, string digest, long expectedSize, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, Resolve($"/v2/{repository}/blobs/{digest}"));
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        await ExpectAsync(response, HttpStatusCode.OK, "blob GET");
        ExpectDigest(response, digest);
        var buffer = ArrayPool<byte>.Shared.Rent(PatternBlob.BlockSize);
        try
        {
            await using var body = await response.Content.ReadAsStreamAsync(ct);
            long total = 0;
            int read;
            while ((read = await body.ReadAsync(buffer, ct)) > 0)
            {
                total += read;
                if (total > expectedSize)
                {
                    break;
                }
            }

            if (total != expectedSize)
            {
                throw new BenchException($"blob GET returned {total} bytes, expected {expectedSize}");
            }

            return total;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Pushes a small blob (POST + PUT with body) and returns its digest.</summary>
    public async Task<string> PushSmallBlobAsync(string repository, byte[] content, CancellationToken ct)
    {
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));
        var location = await StartUploadAsync(repository, ct);
        using var request = new HttpRequestMessage(HttpMethod.Put, WithDigest(location, digest)) { Content = new ByteArrayContent(content) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var response = await _http.SendAsync(request, ct);
        await ExpectAsync(response, HttpStatusCode.Created, "small blob PUT");
        return digest;
    }

    /// <summary>Pushes a config and a layer, then returns the bytes of an OCI image manifest naming them.</summary>
    public async Task<byte[]> PushSmallImageAsync(string repository, string runId, ulong seed, CancellationToken ct)
    {
        var layer = new PatternBlob(4096, seed).ToArray();
        var config = Encoding.UTF8.GetBytes($$$"""{"architecture":"amd64","os":"linux","config":{"Labels":{"bench.run":"{{{runId}}}"}},"rootfs":{"type":"layers","diff_ids":["sha256:{{{Convert.ToHexStringLower(SHA256.HashData(layer))}}}"]}}""");
        var layerDigest = await PushSmallBlobAsync(repository, layer, ct);
        var configDigest = await PushSmallBlobAsync(repository, config, ct);
        return Encoding.UTF8.GetBytes(
            $$$"""{"schemaVersion":2,"mediaType":"{{{OciManifest}}}","config":{"mediaType":"{{{OciConfig}}}","digest":"{{{configDigest}}}","size":{{{config.Length}}}},"layers":[{"mediaType":"{{{OciLayer}}}","digest":"{{{layerDigest}}}","size":{{{layer.Length}}}}],"annotations":{"org.example.bench.run":"{{{runId}}}"}}""");
    }

    /// <summary>Cross-repository mount: <c>POST /v2/&lt;name&gt;/blobs/uploads/?mount=&lt;digest&gt;&amp;from=&lt;source&gt;</c> → 201.</summary>
    public async Task MountAsync(string repository, string digest, string from, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Resolve($"/v2/{repository}/blobs/uploads/?mount={Uri.EscapeDataString(digest)}&from={Uri.EscapeDataString(from)}"))
        {
            Content = new ByteArrayContent([]),
        };
        using var response = await _http.SendAsync(request, ct);
        await ExpectAsync(response, HttpStatusCode.Created, $"mount {digest} from {from}");
    }

    public async Task PutManifestAsync(string repository, string reference, byte[] manifest, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, Resolve($"/v2/{repository}/manifests/{reference}")) { Content = new ByteArrayContent(manifest) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(OciManifest);
        using var response = await _http.SendAsync(request, ct);
        await ExpectAsync(response, HttpStatusCode.Created, $"manifest PUT {reference}");
    }

    /// <summary>
    /// One manifest GET of a load loop (<c>Accept</c>: OCI manifest), its body read to the end into
    /// <paramref name="buffer"/> and discarded: true when it was 200 with <paramref name="length"/> bytes.
    /// </summary>
    public static async Task<bool> GetManifestAsync(HttpClient http, Uri url, int length, byte[] buffer, CancellationToken ct)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.TryAddWithoutValidation("Accept", OciManifest);
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            await using var stream = await response.Content.ReadAsStreamAsync(ct);
            int read, received = 0;
            while ((read = await stream.ReadAsync(buffer, ct)) > 0)
            {
                received += read;
            }

            return response.StatusCode == HttpStatusCode.OK && received == length;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    public static Uri WithDigest(Uri location, string digest)
        => new(location.OriginalString + (string.IsNullOrEmpty(location.Query) ? "?" : "&") + "digest=" + Uri.EscapeDataString(digest));

    public static async Task ExpectAsync(HttpResponseMessage response, HttpStatusCode expected, string what)
    {
        if (response.StatusCode == expected)
        {
            return;
        }

        var body = await response.Content.ReadAsStringAsync();
        throw new BenchException($"{what}: HTTP {(int)response.StatusCode}, expected {(int)expected}: {(body.Length > 400 ? body[..400] : body)}");
    }

    private static void ExpectDigest(HttpResponseMessage response, string digest)
    {
        var header = response.Headers.TryGetValues("Docker-Content-Digest", out var values) ? values.FirstOrDefault() : null;
        if (header is not null && header != digest)
        {
            throw new BenchException($"Docker-Content-Digest {header}, expected {digest}");
        }
    }

    private Uri LocationOf(HttpResponseMessage response)
        => response.Headers.Location is { } location
            ? Resolve(location.OriginalString)
            : throw new BenchException($"HTTP {(int)response.StatusCode} without a Location header");

    public void Dispose() => _http.Dispose();
}

public sealed class BenchException(string message) : Exception(message);
