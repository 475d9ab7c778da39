using System.Net;
using System.Net.Http.Headers;
using Registry.Storage;

namespace Registry.Tests;

/// <summary>
/// The embedded registry on a full disk: a small tmpfs, mounted in a private mount namespace
/// (<c>unshare</c>) so the test needs no privilege, filled from outside through <c>/proc/PID/root</c>.
/// </summary>
[Trait("Category", TestCategories.Process)]
public sealed class DiskFullTests
{
    private const int TmpfsMiB = 48;

    [Fact]
    public async Task AFullDiskIsInsufficientStorageLeavesNothingBehindFailsReadinessAndStillServesReads()
    {
        using var temp = new TempDirectory();
        await using var registry = await StartOnTmpfsAsync(temp.Path);
        var name = "diskfull/app";
        var (digest, manifest) = await registry.Client.PushImageAsync(name, "v1", layers: 1);
        var config = Oci.Json(new { architecture = "amd64", os = "linux", created = "before" });
        var configDigest = await registry.Client.PushBlobAsync(name, config);

        // The registry's own view of its data directory, from outside its mount namespace.
        var root = $"/proc/{registry.Pid}/root{temp.Path}";
        Assert.True(Directory.Exists(Path.Combine(root, "registry")), $"the tmpfs is not visible at {root}");
        using var open = await registry.Client.PostAsync($"/v2/{name}/blobs/uploads/", null);
        Assert.Equal(HttpStatusCode.Accepted, open.StatusCode);
        var session = open.Headers.Location!.OriginalString;
        var filler = Path.Combine(root, "filler");
        FillUntilFull(filler);

        // Uploads: monolithic and chunked starts are 507 with the OCI envelope, and leave no staging.
        using (var post = await registry.Client.PostAsync($"/v2/{name}/blobs/uploads/?digest={Oci.Digest(Oci.RandomBytes(1))}", Bytes(Oci.RandomBytes(1 << 20))))
        {
            await AssertInsufficientStorageAsync(post);
        }

        using (var start = await registry.Client.PostAsync($"/v2/{name}/blobs/uploads/", null))
        {
            await AssertInsufficientStorageAsync(start);
        }

        // A chunk to an upload begun before is refused and not counted: the upload can go on later.
        var chunk = Oci.RandomBytes(1 << 20);
        using (var patch = await registry.Client.PatchAsync(session, Bytes(chunk)))
        {
            await AssertInsufficientStorageAsync(patch);
        }

        using (var status = await registry.Client.GetAsync(session))
        {
            Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
            Assert.Equal("0-0", status.Headers.GetValues("Range").Single());
        }

        // A manifest needs a grain-state write: refused the same way, and nothing of it is served.
        var refused = Oci.Json(new
        {
            schemaVersion = 2,
            mediaType = Oci.ManifestType,
            config = Oci.Descriptor("application/vnd.oci.image.config.v1+json", config),
            layers = Array.Empty<object>(),
        });
        using (var put = await registry.Client.PutManifestAsync(name, "v2", refused))
        {
            await AssertInsufficientStorageAsync(put);
        }

        Assert.Single(Directory.EnumerateFileSystemEntries(Path.Combine(root, "registry", StorageLayout.UploadsDirectory)));
        using (var readiness = await registry.Client.GetAsync("/readyz"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, readiness.StatusCode);
        }

        // Reads keep working.
        Assert.Equal(manifest, await registry.Client.GetByteArrayAsync($"/v2/{name}/manifests/v1"));
        Assert.Equal(manifest, await registry.Client.GetByteArrayAsync($"/v2/{name}/manifests/{digest}"));
        Assert.Equal(config, await registry.Client.GetByteArrayAsync($"/v2/{name}/blobs/{configDigest}"));
        using (var missing = await registry.Client.GetAsync($"/v2/{name}/manifests/v2"))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }

        // Room again: writes and readiness come back without a restart.
        File.Delete(filler);
        using (var again = await registry.Client.PutManifestAsync(name, "v2", refused))
        {
            Assert.Equal(HttpStatusCode.Created, again.StatusCode);
        }

        Assert.Equal(refused, await registry.Client.GetByteArrayAsync($"/v2/{name}/manifests/v2"));
        using (var patch = await registry.Client.PatchAsync(session, Bytes(chunk)))
        {
            Assert.Equal(HttpStatusCode.Accepted, patch.StatusCode);
        }

        using (var done = await registry.Client.PutAsync($"{session}{(session.Contains('?', StringComparison.Ordinal) ? '&' : '?')}digest={Oci.Digest(chunk)}", null))
        {
            Assert.Equal(HttpStatusCode.Created, done.StatusCode);
        }

        Assert.Equal(chunk, await registry.Client.GetByteArrayAsync($"/v2/{name}/blobs/{Oci.Digest(chunk)}"));
        await ReadyAgainAsync(registry.Client);
    }

    /// <summary>Polls <c>/readyz</c> (its storage probe is cached briefly) until it passes, within the test bound.</summary>
    private static async Task ReadyAgainAsync(HttpClient client)
    {
        using var deadline = new CancellationTokenSource(Bounded.Timeout);
        while (true)
        {
            using var readiness = await client.GetAsync("/readyz", deadline.Token);
            if (readiness.StatusCode == HttpStatusCode.OK)
            {
                return;
            }

            await Task.Delay(100, deadline.Token);
        }
    }

    private static async Task AssertInsufficientStorageAsync(HttpResponseMessage response)
    {
        await response.AssertErrorAsync(HttpStatusCode.InsufficientStorage, "UNAVAILABLE");
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("insufficient storage", body, StringComparison.Ordinal);
    }

    private static ByteArrayContent Bytes(byte[] content)
    {
        var body = new ByteArrayContent(content);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return body;
    }

    /// <summary>Writes zeros until the filesystem refuses (ENOSPC).</summary>
    private static void FillUntilFull(string path)
    {
        var chunk = new byte[1 << 20];
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
        try
        {
            for (var i = 0; i <= TmpfsMiB; i++)
            {
                file.Write(chunk);
            }
        }
        catch (IOException)
        {
            return;
        }

        Assert.Fail($"{TmpfsMiB + 1} MiB fitted on a {TmpfsMiB} MiB tmpfs: the registry is not on the tmpfs");
    }

    /// <summary>The registry in its own user and mount namespace, its data directory a fresh tmpfs.</summary>
    private static Task<RegistryProcess> StartOnTmpfsAsync(string dataDirectory)
        => EmbeddedProcess.StartThroughAsync(
            ["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private", "sh", "-c", $"mount -t tmpfs -o size={TmpfsMiB}m tmpfs \"$0\" && exec \"$@\"", dataDirectory],
            dataDirectory);
}
