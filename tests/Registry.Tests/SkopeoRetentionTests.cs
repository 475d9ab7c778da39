using Microsoft.Extensions.DependencyInjection;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>
/// Retention with a real client: after a policy is applied and a collection has run, every image
/// a retained tag names (an index's children, configs and layers) still pulls with skopeo, and
/// the bytes only deleted tags needed are gone.
/// </summary>
[Trait("Category", TestCategories.Skopeo)]
public sealed class SkopeoRetentionTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("skopeo-retention-").FullName;

    public void Dispose() => Skopeo.TryDelete(_work);

    [Fact]
    public async Task RetainedImagesPullAfterApplyAndCollectionAndDeletedOnesAreGone()
    {
        await using var host = await RegistryHost.StartAsync(null, "--Registry:GarbageCollection:RemoveUnusedLinks=true");
        var ns = "s" + Guid.NewGuid().ToString("N")[..12];
        var name = $"{ns}/app";

        var layout = OciLayout.Create(Path.Combine(_work, "src"));
        var multi = layout.WriteMultiArchIndex(2, ("linux", "amd64", null), ("linux", "arm64", "v8"));
        var kept = layout.WriteImage(layers: 2, firstLayerBytes: 64 * 1024);
        var dropped = layout.WriteImage(layers: 2, firstLayerBytes: 64 * 1024);
        layout.Tag(multi.Index, "multi");
        layout.Tag(kept.Manifest, "stable");
        layout.Tag(dropped.Manifest, "dev");
        await Skopeo.PushAsync($"oci:{layout.Root}:multi", $"docker://{host.Authority}/{name}:multi", "--all", "--preserve-digests");
        await Skopeo.PushAsync($"oci:{layout.Root}:stable", $"docker://{host.Authority}/{name}:stable", "--preserve-digests");
        await Skopeo.PushAsync($"oci:{layout.Root}:dev", $"docker://{host.Authority}/{name}:dev", "--preserve-digests");

        await RetentionTests.PutPolicyAsync(host.Client, ns, "releases", new { keepTags = new[] { "multi", "stable" }, untagged = "delete", keepYoungerThan = "0s" });
        var dry = await RetentionTests.RunAsync(host.Client, ns, "releases", dryRun: true);
        Assert.Equal(1, dry.GetProperty("status").GetProperty("tagsDeleted").GetInt32());
        var applied = await RetentionTests.RunAsync(host.Client, ns, "releases", dryRun: false);
        Assert.Equal(1, applied.GetProperty("status").GetProperty("manifestsDeleted").GetInt32());

        // The collection runs as if past its grace period, so it may take what retention freed.
        var report = await host.Service<IGarbageCollector>().CollectAsync(new GarbageCollectionRun(Guid.NewGuid().ToString("N"), false, DateTimeOffset.UtcNow, 1), DateTimeOffset.UtcNow.AddDays(3), CancellationToken.None).WithinAsync();
        Assert.Null(report.Error);

        var destination = Path.Combine(_work, "pulled");
        await Skopeo.PullAsync($"docker://{host.Authority}/{name}:multi", $"oci:{destination}:multi", "--all", "--preserve-digests");
        await Skopeo.PullAsync($"docker://{host.Authority}/{name}:stable", $"oci:{destination}:stable", "--preserve-digests");
        var pulled = OciLayout.Open(destination);
        foreach (var blob in multi.Images.SelectMany(i => i.Blobs.Append(i.Manifest)).Concat(kept.Blobs))
        {
            Assert.True(pulled.HasBlob(blob.Digest), $"{blob.Digest} was not pulled");
            Assert.True(File.Exists(DataDirectory.BlobPath(host.DataDirectory, blob.Digest)), $"{blob.Digest} was collected");
        }

        var gone = await Skopeo.RunAsync("copy", "--src-tls-verify=false", "--src-no-creds", $"docker://{host.Authority}/{name}:dev", $"oci:{destination}:dev");
        Assert.True(gone.ExitCode != 0, "the deleted tag still pulls: " + gone.Describe());
        foreach (var blob in dropped.Blobs.Append(dropped.Manifest))
        {
            Assert.False(File.Exists(DataDirectory.BlobPath(host.DataDirectory, blob.Digest)), $"{blob.Digest} of the deleted image was not collected");
        }
    }
}
