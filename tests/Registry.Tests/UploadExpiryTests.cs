using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Registry.Api.Services;
using Registry.Grains;
using Registry.Storage;

namespace Registry.Tests;

/// <summary>Abandoned upload sessions are swept with their staged bytes; live ones are not.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class UploadExpiryTests
{
    private static readonly TimeSpan DefaultExpiry = TimeSpan.FromHours(24);

    [Fact]
    public async Task SessionOlderThanTheExpiryIsDeletedWithItsStagedBytes()
    {
        await using var host = await RegistryHost.StartAsync();
        using var cts = Bounded.Token();
        var name = SharedRegistry.UniqueName("expiry");
        var content = Oci.RandomBytes(5000);
        var session = await UploadSession.StartAsync(host.Client, name);
        await session.PatchOkAsync(content, 0, 3000);

        var staging = Path.Combine(host.DataDirectory, "uploads", session.Id);
        Assert.True(Directory.Exists(staging));
        Assert.NotEmpty(StateFilesOf(host, session.Id));

        var janitor = host.Service<IUploadSweeper>();
        Assert.Equal(0, await janitor.SweepAsync(DateTimeOffset.UtcNow + DefaultExpiry - TimeSpan.FromHours(1), cts.Token));
        using (var alive = await session.GetAsync())
        {
            Assert.Equal(HttpStatusCode.NoContent, alive.StatusCode);
            Assert.Equal("0-2999", alive.Header("Range"));
        }

        Assert.Equal(1, await janitor.SweepAsync(DateTimeOffset.UtcNow + DefaultExpiry + TimeSpan.FromHours(1), cts.Token));

        using (var status = await session.GetAsync())
        {
            await status.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
        }

        using (var patch = await session.PatchAsync(content, 3000, 2000))
        {
            await patch.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
        }

        using (var put = await session.PutAsync(Oci.Digest(content[..3000])))
        {
            await put.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
        }

        using (var delete = await host.Client.DeleteAsync(session.Location))
        {
            await delete.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
        }

        Assert.False(Directory.Exists(staging));
        Assert.Empty(DataDirectory.Entries(Path.Combine(host.DataDirectory, "uploads")));
        Assert.Empty(StateFilesOf(host, session.Id));
        Assert.Null(await host.Service<IBlobStore>().GetSizeAsync(Oci.Digest(content[..3000]), cts.Token));
    }

    [Fact]
    public async Task SweepExpiresOlderSessionsAndKeepsYoungerOnes()
    {
        await using var host = await RegistryHost.StartAsync();
        using var cts = Bounded.Token();
        var grains = host.Services.GetRequiredService<IGrainFactory>();
        var name = SharedRegistry.UniqueName("expiry");
        var older = await UploadSession.StartAsync(host.Client, name);
        await older.PatchOkAsync(Oci.RandomBytes(1000), 0, 1000);
        var content = Oci.RandomBytes(4000);
        var younger = await UploadSession.StartAsync(host.Client, name);
        await younger.PatchOkAsync(content, 0, 2500);

        var olderStart = (await grains.GetGrain<IUploadSessionGrain>(older.Id).GetStatus(name))!.StartedAt;
        var youngerStart = (await grains.GetGrain<IUploadSessionGrain>(younger.Id).GetStatus(name))!.StartedAt;
        Assert.True(olderStart < youngerStart, $"{olderStart:O} is not before {youngerStart:O}");

        // The cutoff falls between the two starts.
        var cutoff = olderStart + ((youngerStart - olderStart) / 2);
        Assert.Equal(1, await host.Service<IUploadSweeper>().SweepAsync(cutoff + DefaultExpiry, cts.Token));

        using (var gone = await older.GetAsync())
        {
            await gone.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
        }

        Assert.False(Directory.Exists(Path.Combine(host.DataDirectory, "uploads", older.Id)));

        using (var alive = await younger.GetAsync())
        {
            Assert.Equal(HttpStatusCode.NoContent, alive.StatusCode);
            Assert.Equal("0-2499", alive.Header("Range"));
        }

        // The survivor's staged bytes are intact: it finishes into the right blob.
        await younger.PatchOkAsync(content, 2500, 1500);
        using (var put = await younger.PutAsync(Oci.Digest(content)))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        using var blob = await host.Client.GetAsync($"/v2/{name}/blobs/{Oci.Digest(content)}");
        Assert.Equal(HttpStatusCode.OK, blob.StatusCode);
        Assert.Equal(content, await blob.Content.ReadAsByteArrayAsync());
        Assert.Empty(DataDirectory.Entries(Path.Combine(host.DataDirectory, "uploads")));
    }

    [Fact]
    public async Task ConfiguredExpiryIsHonoured()
    {
        await using var host = await RegistryHost.StartAsync(null, "--Registry:Uploads:Expiry=00:01:00");
        using var cts = Bounded.Token();
        var name = SharedRegistry.UniqueName("expiry");
        var session = await UploadSession.StartAsync(host.Client, name);
        await session.PatchOkAsync(Oci.RandomBytes(100), 0, 100);
        var started = DateTimeOffset.UtcNow;
        var janitor = host.Service<IUploadSweeper>();

        Assert.Equal(0, await janitor.SweepAsync(started + TimeSpan.FromSeconds(30), cts.Token));
        using (var alive = await session.GetAsync())
        {
            Assert.Equal(HttpStatusCode.NoContent, alive.StatusCode);
        }

        // Two minutes is nothing against the default 24 hours, but past the configured minute.
        Assert.Equal(1, await janitor.SweepAsync(started + TimeSpan.FromMinutes(2), cts.Token));
        using (var gone = await session.GetAsync())
        {
            await gone.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
        }

        Assert.False(Directory.Exists(Path.Combine(host.DataDirectory, "uploads", session.Id)));
    }

    [Fact]
    public async Task StagingLeftWithoutASessionIsSweptToo()
    {
        // What a monolithic upload leaves behind when its process dies mid-request.
        await using var host = await RegistryHost.StartAsync();
        using var cts = Bounded.Token();
        var store = host.Service<IBlobStore>();
        var orphan = Guid.NewGuid().ToString("N");
        await store.CreateUploadAsync(orphan, DateTimeOffset.UtcNow - TimeSpan.FromDays(3), cts.Token);
        await using (var writer = await store.OpenUploadWriterAsync(orphan, 0, cts.Token))
        {
            await writer.WriteAsync(Oci.RandomBytes(1000), cts.Token);
        }

        var recent = Guid.NewGuid().ToString("N");
        await store.CreateUploadAsync(recent, DateTimeOffset.UtcNow, cts.Token);

        Assert.Equal(1, await host.Service<IUploadSweeper>().SweepAsync(DateTimeOffset.UtcNow, cts.Token));

        Assert.False(Directory.Exists(Path.Combine(host.DataDirectory, "uploads", orphan)));
        Assert.True(Directory.Exists(Path.Combine(host.DataDirectory, "uploads", recent)));
    }

    [Fact]
    public async Task ASessionWhoseStateACrashCutShortIsUnknownAndSwept()
    {
        // Upload-session state is renamed into place unflushed (it may be lost), so a machine crash
        // can leave it empty. After a restart the session is unknown, not an error, and expires.
        using var data = new TempDirectory("registry-test-");
        using var cts = Bounded.Token();
        var name = SharedRegistry.UniqueName("expiry");
        UploadSession session;
        await using (var host = await RegistryHost.StartAsync(data.Path))
        {
            session = await UploadSession.StartAsync(host.Client, name);
            await session.PatchOkAsync(Oci.RandomBytes(1000), 0, 1000);
            var state = Assert.Single(StateFilesOf(host, session.Id));
            await File.WriteAllBytesAsync(Path.Combine(host.DataDirectory, "state", state), [], cts.Token);
        }

        await using (var host = await RegistryHost.StartAsync(data.Path))
        {
            var restarted = new UploadSession(host.Client, name, session.Location);
            using (var status = await restarted.GetAsync())
            {
                await status.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
            }

            Assert.Equal(1, await host.Service<IUploadSweeper>().SweepAsync(DateTimeOffset.UtcNow + DefaultExpiry + TimeSpan.FromHours(1), cts.Token));
            Assert.False(Directory.Exists(Path.Combine(host.DataDirectory, "uploads", session.Id)));
            Assert.Empty(StateFilesOf(host, session.Id));
        }
    }

    private static string[] StateFilesOf(RegistryHost host, string key)
        => DataDirectory.Files(Path.Combine(host.DataDirectory, "state")).Where(f => Path.GetFileName(f) == key).ToArray();
}
