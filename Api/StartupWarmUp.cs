using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Registry.Storage;

namespace Registry.Api;

/// <summary>
/// Pushes and pulls a small image through a throwaway registry in this process before the real
/// one starts listening, so that a freshly started registry answers its first push as fast as
/// its later ones.
/// </summary>
/// <remarks>
/// Even published ReadyToRun, the first push ran about 0.5 s longer than the next: the runtime
/// compiled some 1,500 methods on the way (generic instantiations across assemblies, such as the
/// async state machines of grain calls, which precompiled code cannot hold). Compiled code is
/// shared by the whole process, so running the push path once anywhere in it is enough. The
/// throwaway registry has its own temporary data directory, no settings from the environment,
/// no access control and no webhooks: nothing of it reaches the real registry's storage, clients
/// or subscribers. It costs about a second of start-up time (docs/benchmarks.md).
/// </remarks>
public static partial class StartupWarmUp
{
    /// <summary>How long the warm-up may take before the real registry starts without it.</summary>
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>Runs the warm-up; a failure is logged and the real registry starts anyway (the warm-up only saves time).</summary>
    /// <param name="temporaryRoot">Where its throwaway data directory goes; the system's temporary directory when null.</param>
    public static async Task<bool> RunAsync(UploadWriteMode writeMode, ILogger logger, string? temporaryRoot = null)
    {
        var started = Stopwatch.GetTimestamp();
        DirectoryInfo? directory = null;
        try
        {
            using var timeout = new CancellationTokenSource(Timeout);
            directory = temporaryRoot is null
                ? Directory.CreateTempSubdirectory("registry-warm-up-")
                : Directory.CreateDirectory(Path.Combine(temporaryRoot, "registry-warm-up-" + Guid.NewGuid().ToString("N")));
            await using (var app = RegistryApp.Create([], builder => Isolate(builder, directory.FullName, writeMode)))
            {
                await app.StartAsync(timeout.Token);
                using (var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()), Timeout = Timeout })
                {
                    await PushAndPullAsync(http, timeout.Token);
                }

                await app.StopAsync(timeout.Token);
            }

            LogWarmedUp(logger, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return true;
        }
        catch (Exception e)
        {
            LogWarmUpFailed(logger, e);
            return false;
        }
        finally
        {
            try
            {
                directory?.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A temporary directory: the system cleans it up.
            }
        }
    }

    /// <summary>Only these settings: none from the environment, files or command line (another address, Azure, webhooks).</summary>
    private static void Isolate(WebApplicationBuilder builder, string dataDirectory, UploadWriteMode writeMode)
    {
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Registry:Mode"] = "Embedded",
            ["Registry:DataDirectory"] = dataDirectory,
            ["Registry:Listen"] = "http://127.0.0.1:0",
            ["Registry:Access:Enabled"] = "false",
            ["Registry:Uploads:WriteMode"] = writeMode.ToString(),
        });
        builder.Logging.ClearProviders();
    }

    /// <summary>What clients do on a push and the pull after it: each way of uploading a blob, a manifest, a mount, reads.</summary>
    private static async Task PushAndPullAsync(HttpClient http, CancellationToken ct)
    {
        await ExpectAsync(http, new(HttpMethod.Get, "/v2/"), HttpStatusCode.OK, ct);
        var layers = new[] { RandomNumberGenerator.GetBytes(96 * 1024), RandomNumberGenerator.GetBytes(64 * 1024) };
        var config = Encoding.UTF8.GetBytes("""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}""");
        var manifest = Encoding.UTF8.GetBytes(
            $$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{Descriptor("application/vnd.oci.image.config.v1+json", config)}},"layers":[{{Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layers[0])}},{{Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layers[1])}}]}""");

        const string First = "warm-up/first", Second = "warm-up/second";
        foreach (var blob in new[] { config, layers[0], layers[1] })
        {
            await ExpectAsync(http, new(HttpMethod.Head, $"/v2/{First}/blobs/{Digest(blob)}"), HttpStatusCode.NotFound, ct);
        }

        // The config in one POST ?digest=; the first layer streamed in a PATCH, then an empty PUT
        // (as skopeo and containerd do); the second in a ranged PATCH and a PUT carrying the rest
        // (chunked clients), then the same bytes monolithically (POST, PUT with the body) to the second repository.
        await ExpectAsync(http, new(HttpMethod.Post, $"/v2/{First}/blobs/uploads/?digest={Digest(config)}") { Content = Body(config) }, HttpStatusCode.Created, ct);
        var session = await StartUploadAsync(http, First, ct);
        using (var patch = new HttpRequestMessage(HttpMethod.Patch, session) { Content = new TricklingContent(layers[0], chunked: true) })
        {
            patch.Headers.TransferEncodingChunked = true;
            session = await SessionAsync(http, patch, ct);
        }

        await ExpectAsync(http, new(HttpMethod.Put, WithDigest(session, layers[0])), HttpStatusCode.Created, ct);
        session = await StartUploadAsync(http, First, ct);
        var half = layers[1].Length / 2;
        var chunk = Body(layers[1].AsMemory(0, half).ToArray());
        chunk.Headers.TryAddWithoutValidation("Content-Range", $"0-{half - 1}");
        session = await SessionAsync(http, new(HttpMethod.Patch, session) { Content = chunk }, ct);
        await ExpectAsync(http, new(HttpMethod.Put, WithDigest(session, layers[1])) { Content = Body(layers[1].AsMemory(half).ToArray()) }, HttpStatusCode.Created, ct);
        await PutManifestAsync(http, First, manifest, ct);

        // The second repository: one layer mounted from the first, one uploaded again monolithically.
        await ExpectAsync(http, new(HttpMethod.Post, $"/v2/{Second}/blobs/uploads/?mount={Digest(layers[0])}&from={First}"), HttpStatusCode.Created, ct);
        await ExpectAsync(http, new(HttpMethod.Post, $"/v2/{Second}/blobs/uploads/?mount={Digest(config)}&from={First}"), HttpStatusCode.Created, ct);
        session = await StartUploadAsync(http, Second, ct);
        await ExpectAsync(http, new(HttpMethod.Put, WithDigest(session, layers[1])) { Content = Body(layers[1]) }, HttpStatusCode.Created, ct);
        await PutManifestAsync(http, Second, manifest, ct);

        // The pull: manifest by tag and by digest, every blob, the listings.
        foreach (var repository in new[] { First, Second })
        {
            await ExpectAsync(http, Accepting(new(HttpMethod.Head, $"/v2/{repository}/manifests/v1")), HttpStatusCode.OK, ct);
            await ExpectAsync(http, Accepting(new(HttpMethod.Get, $"/v2/{repository}/manifests/{Digest(manifest)}")), HttpStatusCode.OK, ct);
            foreach (var blob in new[] { config, layers[0], layers[1] })
            {
                await ExpectAsync(http, new(HttpMethod.Head, $"/v2/{repository}/blobs/{Digest(blob)}"), HttpStatusCode.OK, ct);
                await ExpectAsync(http, new(HttpMethod.Get, $"/v2/{repository}/blobs/{Digest(blob)}"), HttpStatusCode.OK, ct);
            }

            await ExpectAsync(http, new(HttpMethod.Get, $"/v2/{repository}/tags/list"), HttpStatusCode.OK, ct);
        }

        await ExpectAsync(http, new(HttpMethod.Get, "/v2/_catalog"), HttpStatusCode.OK, ct);
    }

    private static async Task PutManifestAsync(HttpClient http, string repository, byte[] manifest, CancellationToken ct)
    {
        var content = new ByteArrayContent(manifest);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/vnd.oci.image.manifest.v1+json");
        await ExpectAsync(http, new(HttpMethod.Put, $"/v2/{repository}/manifests/v1") { Content = content }, HttpStatusCode.Created, ct);
    }

    private static Task<Uri> StartUploadAsync(HttpClient http, string repository, CancellationToken ct)
        => SessionAsync(http, new(HttpMethod.Post, $"/v2/{repository}/blobs/uploads/"), ct);

    /// <summary>Sends a request that must answer 202 with a session's Location; returns it.</summary>
    private static async Task<Uri> SessionAsync(HttpClient http, HttpRequestMessage request, CancellationToken ct)
    {
        using (request)
        {
            using var response = await http.SendAsync(request, ct);
            await response.Content.CopyToAsync(Stream.Null, ct);
            return response.StatusCode == HttpStatusCode.Accepted && response.Headers.Location is { } location
                ? location
                : throw new InvalidOperationException($"{request.Method} {request.RequestUri} answered {(int)response.StatusCode} without an upload session");
        }
    }

    private static async Task ExpectAsync(HttpClient http, HttpRequestMessage request, HttpStatusCode expected, CancellationToken ct)
    {
        using (request)
        {
            using var response = await http.SendAsync(request, ct);
            await response.Content.CopyToAsync(Stream.Null, ct);
            if (response.StatusCode != expected)
            {
                throw new InvalidOperationException($"{request.Method} {request.RequestUri} answered {(int)response.StatusCode}, not {(int)expected}");
            }
        }
    }

    private static HttpRequestMessage Accepting(HttpRequestMessage request)
    {
        request.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
        return request;
    }

    private static TricklingContent Body(byte[] bytes)
    {
        var content = new TricklingContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return content;
    }

    private static Uri WithDigest(Uri session, byte[] blob)
    {
        var text = session.OriginalString;
        return new Uri($"{text}{(text.Contains('?', StringComparison.Ordinal) ? '&' : '?')}digest={Digest(blob)}", UriKind.RelativeOrAbsolute);
    }

    private static string Digest(byte[] bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static string Descriptor(string mediaType, byte[] bytes) => $$"""{"mediaType":"{{mediaType}}","digest":"{{Digest(bytes)}}","size":{{bytes.Length}}}""";

    [LoggerMessage(23, LogLevel.Information, "Warmed up in {Milliseconds} ms: a push and a pull through a throwaway registry in this process")]
    private static partial void LogWarmedUp(ILogger logger, long milliseconds);

    [LoggerMessage(24, LogLevel.Warning, "The start-up warm-up failed; starting without it (the first requests will be slower)")]
    private static partial void LogWarmUpFailed(ILogger logger, Exception exception);

    /// <summary>
    /// A body sent in two parts with a pause between, as bodies arrive from a real network: the
    /// server then waits for the rest, which runs code (and compiles it) that a body already
    /// whole in its buffers never reaches.
    /// </summary>
    private sealed class TricklingContent(byte[] bytes, bool chunked = false) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var half = bytes.Length / 2;
            await stream.WriteAsync(bytes.AsMemory(0, half));
            await stream.FlushAsync();
            await Task.Delay(TimeSpan.FromMilliseconds(5));
            await stream.WriteAsync(bytes.AsMemory(half));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = bytes.Length;
            return !chunked;
        }
    }
}
