using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Orleans;
using Registry.Grains;
using Registry.Silo;
using Registry.Storage;

namespace Registry.Tests;

/// <summary>
/// Online garbage collection in embedded mode on the filesystem driver: what it reclaims (bytes on
/// disk before and after), the dry run, the API, and the race harness (docs/garbage-collection.md).
/// Blobs are made older than the grace period by setting their files' modification time back.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class GarbageCollectionTests
{
    private const string Path = "/apis/registry/v1/garbagecollections";
    private static readonly TimeSpan Grace = TimeSpan.FromHours(48);

    [Fact]
    public async Task CollectionReclaimsExactlyTheOldUnreferencedBlobsAndTheDryRunRemovesNothing()
    {
        await using var host = await RegistryHost.StartAsync();
        var client = host.Client;
        var kept = await client.PushImageAsync("gc/kept", "v1");
        var keptBlobs = BlobsOf(kept.Manifest).Append(kept.Digest).ToArray();

        // Garbage: an image whose manifest is deleted and whose layers are unlinked, plus a lone unlinked blob.
        var gone = await client.PushImageAsync("gc/gone", "v1");
        var goneBlobs = BlobsOf(gone.Manifest).ToArray();
        using (var delete = await client.DeleteAsync($"/v2/gc/gone/manifests/{gone.Digest}"))
        {
            Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        }

        var lone = Oci.RandomBytes(3000);
        var loneDigest = await client.PushBlobAsync("gc/lone", lone);
        foreach (var (repository, digest) in goneBlobs.Select(d => ("gc/gone", d)).Append(("gc/lone", loneDigest)))
        {
            using var unlink = await client.DeleteAsync($"/v2/{repository}/blobs/{digest}");
            Assert.Equal(HttpStatusCode.Accepted, unlink.StatusCode);
        }

        // Young garbage stays: unlinked, but within the grace period.
        var young = await client.PushBlobAsync("gc/young", Oci.RandomBytes(500));
        using (var unlink = await client.DeleteAsync($"/v2/gc/young/blobs/{young}"))
        {
            Assert.Equal(HttpStatusCode.Accepted, unlink.StatusCode);
        }

        var garbage = goneBlobs.Append(gone.Digest).Append(loneDigest).Order(StringComparer.Ordinal).ToArray();
        foreach (var digest in keptBlobs.Concat(garbage))
        {
            Age(host, digest);
        }

        var expectedBytes = garbage.Sum(d => new FileInfo(DataDirectory.BlobPath(host.DataDirectory, d)).Length);
        var before = BlobBytes(host);

        var dry = await CollectAsync(client, dryRun: true);
        Assert.Equal("Succeeded", dry.GetProperty("status").GetProperty("phase").GetString());
        Assert.True(dry.GetProperty("spec").GetProperty("dryRun").GetBoolean());
        Assert.Equal(garbage.Length, dry.GetProperty("status").GetProperty("blobsReclaimed").GetInt64());
        Assert.Equal(expectedBytes, dry.GetProperty("status").GetProperty("bytesReclaimed").GetInt64());
        Assert.Equal(garbage, dry.GetProperty("status").GetProperty("reclaimedDigests").EnumerateArray().Select(e => e.GetString()!).ToArray());
        Assert.Equal(before, BlobBytes(host));

        var run = await CollectAsync(client, dryRun: false);
        var status = run.GetProperty("status");
        Assert.Equal(garbage.Length, status.GetProperty("blobsReclaimed").GetInt64());
        Assert.Equal(expectedBytes, status.GetProperty("bytesReclaimed").GetInt64());
        Assert.Equal(keptBlobs.Length + garbage.Length + 1, status.GetProperty("blobsExamined").GetInt64());
        Assert.Equal(before, status.GetProperty("bytesExamined").GetInt64());
        Assert.Equal(before - expectedBytes, BlobBytes(host));
        Assert.All(garbage, d => Assert.False(File.Exists(DataDirectory.BlobPath(host.DataDirectory, d))));
        Assert.True(File.Exists(DataDirectory.BlobPath(host.DataDirectory, young)));
        await AssertPullableAsync(client, "gc/kept", "v1", kept.Manifest);

        using var last = await client.GetAsync(Path + "/last");
        Assert.Equal(HttpStatusCode.OK, last.StatusCode);
        var lastRun = await last.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(run.GetProperty("metadata").GetProperty("name").GetString(), lastRun.GetProperty("metadata").GetProperty("name").GetString());

        // Nothing is left to collect: a second run reclaims nothing.
        Assert.Equal(0, (await CollectAsync(client, dryRun: false)).GetProperty("status").GetProperty("blobsReclaimed").GetInt64());
    }

    [Fact]
    public async Task BlobsALinkOrAManifestNeedsAreKeptHoweverOld()
    {
        await using var host = await RegistryHost.StartAsync();
        var client = host.Client;

        // A manifest's layer whose link is deleted stays: the manifest names it.
        var image = await client.PushImageAsync("gc/named", "v1");
        var layer = BlobsOf(image.Manifest).Last();
        using (var unlink = await client.DeleteAsync($"/v2/gc/named/blobs/{layer}"))
        {
            Assert.Equal(HttpStatusCode.Accepted, unlink.StatusCode);
        }

        // A blob only linked (uploaded, no manifest yet) stays.
        var linked = await client.PushBlobAsync("gc/linked", Oci.RandomBytes(700));
        foreach (var digest in BlobsOf(image.Manifest).Append(image.Digest).Append(linked))
        {
            Age(host, digest);
        }

        var run = await CollectAsync(client, dryRun: false);
        Assert.Equal(0, run.GetProperty("status").GetProperty("blobsReclaimed").GetInt64());
        Assert.True(File.Exists(DataDirectory.BlobPath(host.DataDirectory, layer)));
        Assert.True(File.Exists(DataDirectory.BlobPath(host.DataDirectory, linked)));
        Assert.True(File.Exists(DataDirectory.BlobPath(host.DataDirectory, image.Digest)));

        // Linked again (the bytes were kept), the image pulls whole.
        using (var mount = await client.PostAsync($"/v2/gc/named/blobs/uploads/?mount={layer}", null))
        {
            Assert.Equal(HttpStatusCode.Created, mount.StatusCode);
        }

        await AssertPullableAsync(client, "gc/named", "v1", image.Manifest);
    }

    [Fact]
    public async Task BadRequestsGetAStatusAndStartNothing()
    {
        await using var host = await RegistryHost.StartAsync();
        using (var none = await host.Client.GetAsync(Path + "/last"))
        {
            await AssertStatusAsync(none, HttpStatusCode.NotFound, "NotFound");
        }

        using (var broken = await host.Client.PostAsync(Path, new StringContent("{\"spec\":", Encoding.UTF8, "application/json")))
        {
            await AssertStatusAsync(broken, HttpStatusCode.BadRequest, "BadRequest");
        }

        using (var wrongKind = await host.Client.PostAsync(Path, new StringContent("{\"kind\":\"Pod\"}", Encoding.UTF8, "application/json")))
        {
            await AssertStatusAsync(wrongKind, HttpStatusCode.BadRequest, "BadRequest");
        }

        using (var tooLarge = await host.Client.PostAsync(Path, new StringContent(new string(' ', 5000), Encoding.UTF8, "application/json")))
        {
            await AssertStatusAsync(tooLarge, HttpStatusCode.RequestEntityTooLarge, "RequestEntityTooLarge");
        }

        using var still = await host.Client.GetAsync(Path + "/last");
        Assert.Equal(HttpStatusCode.NotFound, still.StatusCode);
    }

    [Theory]
    [InlineData("--Registry:GarbageCollection:GracePeriod=01:00:00", "Registry:GarbageCollection:GracePeriod")]
    [InlineData("--Registry:GarbageCollection:Interval=00:00:10", "Registry:GarbageCollection:Interval")]
    public void BadSettingsStopTheHostWithAMessageSayingWhatToSet(string setting, string named)
    {
        using var data = new TempDirectory();

        var failure = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => Registry.Api.RegistryApp.Create([$"--Registry:DataDirectory={data.Path}", "--Registry:Listen=http://127.0.0.1:0", setting]));

        Assert.Contains(failure.Failures, f => f.Contains(named, StringComparison.Ordinal) && f.Contains("at least", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-0.5")]
    [InlineData("1.5")]
    [InlineData("NaN")]
    public void ADutyCycleOutsideAboveZeroUpToOneStopsTheHostSayingWhatToSet(string value)
    {
        using var data = new TempDirectory();

        var failure = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => Registry.Api.RegistryApp.Create([$"--Registry:DataDirectory={data.Path}", "--Registry:Listen=http://127.0.0.1:0", $"--Registry:GarbageCollection:DutyCycle={value}"]));

        var message = Assert.Single(failure.Failures);
        Assert.StartsWith($"Registry:GarbageCollection:DutyCycle {value} is out of range", message, StringComparison.Ordinal);
        Assert.Contains("use a number above 0 up to 1, such as 0.2 (the default) or 1 (never pause)", message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The pacer works a slice, then pauses so that working is the duty cycle's share: nothing within
    /// the first slice, and after it a pause of at least the slice times (1 - d) / d.
    /// </summary>
    [Fact]
    public async Task ThePacerPausesOnlyAfterASliceOfWorkAndInProportionToTheDutyCycle()
    {
        var pacer = new CollectionPacer(0.5);
        await pacer.StepAsync(CancellationToken.None);
        Assert.Equal(TimeSpan.Zero, pacer.Paused);

        // Work (not a wait for anything): spin past one slice.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed <= CollectionPacer.Slice)
        {
            Thread.SpinWait(1000);
        }

        await pacer.StepAsync(CancellationToken.None);
        Assert.True(pacer.Paused >= CollectionPacer.Slice, $"paused {pacer.Paused} after a slice of work at duty cycle 0.5");

        var never = new CollectionPacer(1);
        clock.Restart();
        while (clock.Elapsed <= CollectionPacer.Slice)
        {
            Thread.SpinWait(1000);
        }

        await never.StepAsync(CancellationToken.None);
        Assert.Equal(TimeSpan.Zero, never.Paused);
    }

    /// <summary>
    /// A collection interrupted (its host stopped while it ran) is resumed by the next start and
    /// finishes: the garbage goes, what is referenced stays.
    /// </summary>
    [Fact]
    public async Task AnInterruptedCollectionIsResumedAtTheNextStartAndFinishes()
    {
        using var data = new TempDirectory();
        byte[] kept;
        var garbage = new List<string>();
        await using (var host = await RegistryHost.StartAsync(data.Path))
        {
            kept = (await host.Client.PushImageAsync("gc/resume", "v1")).Manifest;
            foreach (var digest in BlobsOf(kept))
            {
                Age(host, digest);
            }

            for (var i = 0; i < 200; i++)
            {
                var digest = await host.Client.PushBlobAsync("gc/resume-garbage", Oci.RandomBytes(64 + i));
                using var unlink = await host.Client.DeleteAsync($"/v2/gc/resume-garbage/blobs/{digest}");
                Assert.Equal(HttpStatusCode.Accepted, unlink.StatusCode);
                Age(host, digest);
                garbage.Add(digest);
            }

            var start = await host.Service<IGrainFactory>().GetGrain<IGarbageCollectionGrain>(0).Start(dryRun: false);
            Assert.True(start.Started);
        }

        await using (var host = await RegistryHost.StartAsync(data.Path))
        {
            var owner = host.Service<IGrainFactory>().GetGrain<IGarbageCollectionGrain>(0);
            GarbageCollectionStatus? status = null;
            await Eventually.HoldsAsync(() => (status = owner.GetStatus().AsTask().Result) is { Running: null, Last: not null }, "the collection finished");
            Assert.Null(status!.Last!.Error);
            Assert.All(garbage, d => Assert.False(File.Exists(DataDirectory.BlobPath(host.DataDirectory, d))));
            await AssertPullableAsync(host.Client, "gc/resume", "v1", kept);
            await AssertConsistentAsync(host);
        }
    }

    /// <summary>Every stored manifest's blobs are present, and no unreferenced blob older than the grace period is left.</summary>
    internal static Task AssertConsistentAsync(RegistryHost host)
        => GarbageCollectionConsistency.AssertAsync(host.Service<IGrainFactory>(), host.Service<IBlobStore>(), DateTimeOffset.UtcNow - Grace);

    internal static async Task<JsonElement> CollectAsync(HttpClient client, bool dryRun)
    {
        using var response = await client.PostAsJsonAsync(Path, new { apiVersion = "registry/v1", kind = "GarbageCollection", spec = new { dryRun } });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    internal static async Task AssertPullableAsync(HttpClient client, string repository, string tag, byte[] manifest)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v2/{repository}/manifests/{tag}");
        request.Headers.Accept.ParseAdd(Oci.ManifestType);
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(manifest, await response.Content.ReadAsByteArrayAsync());
        foreach (var digest in BlobsOf(manifest))
        {
            var bytes = await client.GetByteArrayAsync($"/v2/{repository}/blobs/{digest}");
            Assert.Equal(digest, Oci.Digest(bytes));
        }
    }

    /// <summary>The config and layer digests an image manifest names.</summary>
    internal static IEnumerable<string> BlobsOf(byte[] manifest)
    {
        using var document = JsonDocument.Parse(manifest);
        var root = document.RootElement;
        return root.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("digest").GetString()!)
            .Prepend(root.GetProperty("config").GetProperty("digest").GetString()!)
            .ToArray();
    }

    /// <summary>Makes a stored blob look older than the grace period (its file's modification time).</summary>
    internal static void Age(RegistryHost host, string digest)
        => File.SetLastWriteTimeUtc(DataDirectory.BlobPath(host.DataDirectory, digest), DateTime.UtcNow - Grace - TimeSpan.FromHours(24));

    internal static long BlobBytes(RegistryHost host)
        => Directory.EnumerateFiles(System.IO.Path.Combine(host.DataDirectory, "blobs"), "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

    private static async Task AssertStatusAsync(HttpResponseMessage response, HttpStatusCode code, string reason)
    {
        Assert.Equal(code, response.StatusCode);
        var status = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Status", status.GetProperty("kind").GetString());
        Assert.Equal(reason, status.GetProperty("reason").GetString());
    }
}
