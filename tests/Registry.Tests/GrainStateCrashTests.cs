using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>Grain state files under <c>{data}/state</c> are replaced atomically and survive a crash mid-write.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class GrainStateCrashTests
{
    [Fact]
    public async Task ManyStateWritesLeaveNoTemporaryFiles()
    {
        await using var host = await RegistryHost.StartAsync();
        var names = Enumerable.Range(0, 4).Select(_ => SharedRegistry.UniqueName("state")).ToArray();
        var pushes = names.SelectMany(name => Enumerable.Range(0, 10).Select(i => host.Client.PushImageAsync(name, $"t{i % 3}", layers: 1)));
        await Task.WhenAll(pushes).WithinAsync();

        // Upload sessions write state too: some finished, one cancelled, one left open.
        var content = Oci.RandomBytes(10_000);
        var finished = await UploadSession.StartAsync(host.Client, names[0]);
        await finished.PatchOkAsync(content, 0, content.Length);
        using (var put = await finished.PutAsync(Oci.Digest(content)))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        var cancelled = await UploadSession.StartAsync(host.Client, names[1]);
        await cancelled.PatchOkAsync(content, 0, 100);
        using (var delete = await host.Client.DeleteAsync(cancelled.Location))
        {
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        }

        var open = await UploadSession.StartAsync(host.Client, names[2]);
        await open.PatchOkAsync(content, 0, 100);

        var state = Path.Combine(host.DataDirectory, "state");

        // Event consumers (the namespace log, webhook queues) keep writing after the changes are
        // acknowledged, so a temporary file may be seen mid-write; every one seen must be renamed
        // away shortly. A leftover would stay.
        var seen = DataDirectory.Files(state).Where(f => f.EndsWith(".tmp", StringComparison.Ordinal)).ToArray();
        await Poll.UntilAsync(() => Task.FromResult(!seen.Any(f => File.Exists(Path.Combine(state, f)))), "every temporary state file seen is renamed away");
        var files = DataDirectory.Files(state);
        Assert.NotEmpty(files);

        // One state file per repository, the catalog and the open session; none for ended sessions.
        var fileNames = files.Select(Path.GetFileName).ToArray();
        foreach (var name in names)
        {
            Assert.Single(fileNames, f => f == Uri.EscapeDataString(name));
        }

        Assert.Single(fileNames, f => f == open.Id);
        Assert.DoesNotContain(finished.Id, fileNames);
        Assert.DoesNotContain(cancelled.Id, fileNames);
    }

    [Fact]
    public async Task JunkTemporaryFilesFromACrashMidWriteDoNotAffectARestart()
    {
        using var data = new TempDirectory();
        var name = SharedRegistry.UniqueName("state");
        var other = SharedRegistry.UniqueName("state");
        string latest, older;
        IReadOnlyList<TagHistoryEntry> history;
        byte[] layer = Oci.RandomBytes(20_000);
        var layerDigest = Oci.Digest(layer);
        string openUpload;

        var host = await RegistryHost.StartAsync(data.Path);
        try
        {
            (older, _) = await host.Client.PushImageAsync(name, "v1");
            await host.Client.PushImageAsync(name, "latest");
            (latest, _) = await host.Client.PushImageAsync(name, "latest");
            await host.Client.PushBlobAsync(other, layer);
            var session = await UploadSession.StartAsync(host.Client, other);
            await session.PatchOkAsync(layer, 0, 5000);
            openUpload = session.Id;
            history = await host.Services.GetRequiredService<IGrainFactory>().GetGrain<IRepositoryGrain>(name).GetTagHistory("latest");
            Assert.Equal(2, history.Count);
        }
        finally
        {
            await host.StopAsync();
        }

        // Simulate a crash in the middle of the next write of every state file: a temporary file
        // next to it that is truncated, garbage or empty, never renamed into place.
        var state = Path.Combine(data.Path, "state");
        var stateFiles = Directory.EnumerateFiles(state, "*", SearchOption.AllDirectories).ToArray();
        Assert.True(stateFiles.Length >= 4, $"expected state for two repositories, the catalog and an upload, found {stateFiles.Length}");
        var junk = new List<string>();
        foreach (var file in stateFiles)
        {
            var bytes = await File.ReadAllBytesAsync(file);
            await WriteJunkAsync(junk, file, bytes[..(bytes.Length / 2)]);
            await WriteJunkAsync(junk, file, Oci.RandomBytes(Math.Max(16, bytes.Length)));
            await WriteJunkAsync(junk, file, []);
        }

        await using var restarted = await RegistryHost.StartAsync(data.Path);

        using (var get = await restarted.Client.GetAsync($"/v2/{name}/manifests/latest"))
        {
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            Assert.Equal(latest, get.Header("Docker-Content-Digest"));
        }

        using (var get = await restarted.Client.GetAsync($"/v2/{name}/manifests/v1"))
        {
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            Assert.Equal(older, get.Header("Docker-Content-Digest"));
        }

        using (var tags = await restarted.Client.GetAsync($"/v2/{name}/tags/list"))
        {
            Assert.Equal(HttpStatusCode.OK, tags.StatusCode);
            using var json = JsonDocument.Parse(await tags.Content.ReadAsStringAsync());
            Assert.Equal(new[] { "latest", "v1" }, json.RootElement.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
        }

        using (var catalog = await restarted.Client.GetAsync("/v2/_catalog"))
        {
            using var json = JsonDocument.Parse(await catalog.Content.ReadAsStringAsync());
            var repositories = json.RootElement.GetProperty("repositories").EnumerateArray().Select(r => r.GetString()).ToArray();
            Assert.Contains(name, repositories);
            Assert.Contains(other, repositories);
        }

        using (var blob = await restarted.Client.GetAsync($"/v2/{other}/blobs/{layerDigest}"))
        {
            Assert.Equal(HttpStatusCode.OK, blob.StatusCode);
            Assert.Equal(layer, await blob.Content.ReadAsByteArrayAsync());
        }

        var restartedHistory = await restarted.Services.GetRequiredService<IGrainFactory>().GetGrain<IRepositoryGrain>(name).GetTagHistory("latest");
        Assert.Equal(history, restartedHistory);

        // The open upload resumes where it was, and new writes work next to the junk.
        var resumed = new UploadSession(restarted.Client, other, $"/v2/{other}/blobs/uploads/{openUpload}");
        using (var status = await resumed.GetAsync())
        {
            Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
            Assert.Equal("0-4999", status.Header("Range"));
        }

        await resumed.PatchOkAsync(layer, 5000, layer.Length - 5000);
        using (var put = await resumed.PutAsync(layerDigest))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        var (newest, _) = await restarted.Client.PushImageAsync(name, "latest");
        using (var get = await restarted.Client.GetAsync($"/v2/{name}/manifests/latest"))
        {
            Assert.Equal(newest, get.Header("Docker-Content-Digest"));
        }

        var afterPush = await restarted.Services.GetRequiredService<IGrainFactory>().GetGrain<IRepositoryGrain>(name).GetTagHistory("latest");
        Assert.Equal(3, afterPush.Count);
        Assert.True(afterPush[0].Generation > history[0].Generation);

        // Besides the planted junk, a temporary file can only be a write under way (event consumers
        // write after acknowledgements): it must be renamed away shortly.
        var inFlight = DataDirectory.Files(state).Where(f => f.EndsWith(".tmp", StringComparison.Ordinal)).Select(f => Path.Combine(state, f)).Where(f => !junk.Contains(f)).ToArray();
        await Poll.UntilAsync(() => Task.FromResult(!inFlight.Any(File.Exists)), "every temporary state file besides the junk is renamed away");
    }

    private static async Task WriteJunkAsync(List<string> junk, string stateFile, byte[] bytes)
    {
        var path = $"{stateFile}.{Guid.NewGuid():N}.tmp";
        await File.WriteAllBytesAsync(path, bytes);
        junk.Add(path);
    }
}
