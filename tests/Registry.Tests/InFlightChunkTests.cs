using System.Net;
using Registry.Api.Services;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>A session that ends (cancelled, expired) while one of its chunks is still being written stays ended.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class InFlightChunkTests
{
    /// <summary>More than the filesystem driver buffers (4 MiB), so part of it must reach the staged file.</summary>
    private const int FirstPart = 5 << 20;

    private const int Staged = 4 << 20;

    [Fact]
    public async Task SessionCancelledWhileAChunkIsInFlightStaysGone()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("inflight");
        var session = await UploadSession.StartAsync(host.Client, name);
        var content = Oci.RandomBytes(FirstPart + 1000);
        using var body = new HeldBackContent(content, FirstPart);

        var patch = host.Client.SendAsync(HttpMethod.Patch, session.Location, body);
        await WaitUntilStagedAsync(host, session, patch);

        using (var delete = await host.Client.DeleteAsync(session.Location))
        {
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        }

        body.Release();
        using (var response = await patch.WithinAsync())
        {
            await response.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
        }

        await AssertGoneAsync(host, session);
    }

    [Fact]
    public async Task SessionExpiredWhileAChunkIsInFlightStaysGone()
    {
        await using var host = await RegistryHost.StartAsync();
        using var cts = Bounded.Token();
        var name = SharedRegistry.UniqueName("inflight");
        var session = await UploadSession.StartAsync(host.Client, name);
        var content = Oci.RandomBytes(FirstPart + 1000);
        using var body = new HeldBackContent(content, FirstPart);

        var patch = host.Client.SendAsync(HttpMethod.Patch, session.Location, body);
        await WaitUntilStagedAsync(host, session, patch);

        Assert.Equal(1, await host.Service<IUploadSweeper>().SweepAsync(DateTimeOffset.UtcNow + TimeSpan.FromDays(2), cts.Token));

        body.Release();
        using (var response = await patch.WithinAsync())
        {
            await response.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
        }

        await AssertGoneAsync(host, session);
        Assert.Empty(DataDirectory.Files(Path.Combine(host.DataDirectory, "state", "upload")));
    }

    /// <summary>The server holds the chunk's lease once the first part is in the staged file.</summary>
    private static Task WaitUntilStagedAsync(RegistryHost host, UploadSession session, Task patch)
    {
        var data = new FileInfo(Path.Combine(host.DataDirectory, "uploads", session.Id, "data"));
        return Eventually.HoldsAsync(
            () =>
            {
                Assert.False(patch.IsCompleted, "the PATCH ended before its body was complete");
                data.Refresh();
                return data.Exists && data.Length >= Staged;
            },
            "the first part of the chunk is staged");
    }

    private static async Task AssertGoneAsync(RegistryHost host, UploadSession session)
    {
        using (var status = await session.GetAsync())
        {
            await status.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
        }

        using (var again = await session.PatchAsync(Oci.RandomBytes(10), 0, 10))
        {
            await again.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
        }

        Assert.False(Directory.Exists(Path.Combine(host.DataDirectory, "uploads", session.Id)));
        Assert.DoesNotContain(DataDirectory.Files(Path.Combine(host.DataDirectory, "state")), f => Path.GetFileName(f) == session.Id);
    }
}
