using System.Text.Json;

namespace Registry.Tests;

/// <summary>
/// End to end with a real client: skopeo pushes OCI layouts written on disk to the shared registry
/// over plain HTTP on loopback, pulls them back into fresh layouts, and the digests must survive.
/// </summary>
[Trait("Category", TestCategories.Skopeo)]
public sealed class SkopeoTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("skopeo-e2e-").FullName;

    public void Dispose() => Skopeo.TryDelete(_work);

    [Fact]
    public void SkopeoIsInstalled()
    {
        Assert.True(File.Exists(Skopeo.Path), $"skopeo at {Skopeo.Path} is not a file");
    }

    [Fact]
    public async Task MultiLayerImageRoundTripsWithEveryDigestPreserved()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("ns");
        var source = OciLayout.Create(Dir("src"));
        var image = source.WriteImage(layers: 3);
        source.Tag(image.Manifest, "v1");

        await Skopeo.PushAsync($"oci:{source.Root}:v1", $"docker://{host.Authority}/{name}:v1", "--preserve-digests");

        // What the registry stores is byte for byte what was pushed.
        var served = await host.Client.GetManifestAsync(name, "v1", Oci.ManifestType);
        Assert.Equal(image.Manifest.Digest, served.Digest);
        Assert.Equal(Oci.ManifestType, served.ContentType);
        Assert.Equal(source.ReadBlob(image.Manifest.Digest), served.Content);
        foreach (var blob in image.Blobs)
        {
            Assert.Equal(blob.Size, await host.Client.HeadBlobAsync(name, blob.Digest));
            Assert.Equal(source.ReadBlob(blob.Digest), await host.Client.GetBlobAsync(name, blob.Digest));
        }

        // Pulled by tag into a fresh layout: same manifest digest, same blobs, layers that still unpack.
        var pulled = await PullLayoutAsync(host, $"{name}:v1", "v1");
        var descriptor = pulled.Resolve("v1");
        Assert.Equal(image.Manifest.Digest, descriptor.Digest);
        Assert.Equal(Oci.ManifestType, descriptor.MediaType);
        Assert.Equal(source.Closure(image.Manifest.Digest).Order(), pulled.Closure(descriptor.Digest).Order());
        Assert.Equal(5, pulled.VerifyBlobs());
        for (var i = 0; i < image.Layers.Count; i++)
        {
            var (diffId, entries) = OciLayout.ReadLayer(pulled.ReadBlob(image.Layers[i].Digest));
            Assert.Equal(image.DiffIds[i], diffId);
            Assert.Contains(entries, e => e.EndsWith("/link", StringComparison.Ordinal));
        }

        // Pulled by digest as well.
        var byDigest = await PullLayoutAsync(host, $"{name}@{image.Manifest.Digest}", "pinned");
        Assert.Equal(image.Manifest.Digest, byDigest.Resolve("pinned").Digest);
        Assert.Equal(source.Closure(image.Manifest.Digest).Order(), byDigest.Closure(image.Manifest.Digest).Order());
    }

    [Fact]
    public async Task MultiArchIndexRoundTripsWithAllPlatforms()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("ns");
        var source = OciLayout.Create(Dir("src"));
        var index = source.WriteMultiArchIndex(2, ("linux", "amd64", null), ("linux", "arm64", "v8"));
        source.Tag(index.Index, "multi");

        await Skopeo.PushAsync($"oci:{source.Root}:multi", $"docker://{host.Authority}/{name}:multi", "--all", "--preserve-digests");

        var served = await host.Client.GetManifestAsync(name, "multi", Oci.IndexType);
        Assert.Equal(index.Index.Digest, served.Digest);
        Assert.Equal(Oci.IndexType, served.ContentType);
        Assert.Equal(source.ReadBlob(index.Index.Digest), served.Content);
        foreach (var image in index.Images)
        {
            var child = await host.Client.GetManifestAsync(name, image.Manifest.Digest, Oci.ManifestType);
            Assert.Equal(source.ReadBlob(image.Manifest.Digest), child.Content);
            foreach (var blob in image.Blobs)
            {
                Assert.Equal(blob.Size, await host.Client.HeadBlobAsync(name, blob.Digest));
            }
        }

        var pulled = await PullLayoutAsync(host, $"{name}:multi", "multi", "--all", "--preserve-digests");
        var descriptor = pulled.Resolve("multi");
        Assert.Equal(index.Index.Digest, descriptor.Digest);
        Assert.Equal(Oci.IndexType, descriptor.MediaType);
        var closure = pulled.Closure(descriptor.Digest);
        Assert.Equal(source.Closure(index.Index.Digest).Order(), closure.Order());
        Assert.Equal(1 + (2 * (1 + 1 + 2)), closure.Count);
        Assert.Equal(closure.Count, pulled.VerifyBlobs());

        // skopeo resolves the index to the platform it is asked for (its "Digest" is the index's).
        foreach (var image in index.Images)
        {
            var inspect = await Skopeo.RunOkAsync("inspect", "--tls-verify=false", "--no-creds", "--override-os", image.Os, "--override-arch", image.Architecture, $"docker://{host.Authority}/{name}:multi");
            using var json = JsonDocument.Parse(inspect.Stdout);
            Assert.Equal(index.Index.Digest, json.RootElement.GetProperty("Digest").GetString());
            Assert.Equal(image.Architecture, json.RootElement.GetProperty("Architecture").GetString());
            Assert.Equal(image.Layers.Select(l => l.Digest), json.RootElement.GetProperty("Layers").EnumerateArray().Select(l => l.GetString()));
        }

        var raw = await Skopeo.RunOkAsync("inspect", "--raw", "--tls-verify=false", "--no-creds", $"docker://{host.Authority}/{name}:multi");
        Assert.Equal(source.ReadBlob(index.Index.Digest), raw.Stdout);
    }

    [Fact]
    public async Task InspectAndListTagsSeeWhatWasPushed()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("ns");
        var source = OciLayout.Create(Dir("src"));
        var image = source.WriteImage(layers: 2, firstLayerBytes: 64 * 1024);
        source.Tag(image.Manifest, "v1");
        var reference = $"docker://{host.Authority}/{name}";

        await Skopeo.PushAsync($"oci:{source.Root}:v1", $"{reference}:v1", "--preserve-digests");
        await Skopeo.PushAsync($"oci:{source.Root}:v1", $"{reference}:2.0", "--preserve-digests");
        await Skopeo.PushAsync($"oci:{source.Root}:v1", $"{reference}:latest", "--preserve-digests");

        var tags = await Skopeo.RunOkAsync("list-tags", "--tls-verify=false", "--no-creds", reference);
        using (var json = JsonDocument.Parse(tags.Stdout))
        {
            Assert.Equal(["2.0", "latest", "v1"], json.RootElement.GetProperty("Tags").EnumerateArray().Select(t => t.GetString()!).Order(StringComparer.Ordinal));
        }

        var raw = await Skopeo.RunOkAsync("inspect", "--raw", "--tls-verify=false", "--no-creds", $"{reference}:2.0");
        Assert.Equal(source.ReadBlob(image.Manifest.Digest), raw.Stdout);

        var config = await Skopeo.RunOkAsync("inspect", "--config", "--raw", "--tls-verify=false", "--no-creds", $"{reference}:latest");
        Assert.Equal(source.ReadBlob(image.Config.Digest), config.Stdout);

        var inspect = await Skopeo.RunOkAsync("inspect", "--tls-verify=false", "--no-creds", $"{reference}:v1");
        using (var json = JsonDocument.Parse(inspect.Stdout))
        {
            var root = json.RootElement;
            Assert.Equal(image.Manifest.Digest, root.GetProperty("Digest").GetString());
            Assert.Equal("linux", root.GetProperty("Os").GetString());
            Assert.Equal("amd64", root.GetProperty("Architecture").GetString());
            Assert.Equal(image.Layers.Select(l => l.Digest), root.GetProperty("Layers").EnumerateArray().Select(l => l.GetString()));
            Assert.Equal(["2.0", "latest", "v1"], root.GetProperty("RepoTags").EnumerateArray().Select(t => t.GetString()!).Order(StringComparer.Ordinal));
        }

        var missing = await Skopeo.RunAsync("inspect", "--raw", "--tls-verify=false", "--no-creds", $"{reference}:absent");
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("manifest unknown", missing.Stderr, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task DockerSchema2PushIsStoredAsDockerManifest()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("ns");
        var source = OciLayout.Create(Dir("src"));
        var image = source.WriteImage(layers: 2, firstLayerBytes: 128 * 1024);
        source.Tag(image.Manifest, "v1");

        await Skopeo.PushAsync($"oci:{source.Root}:v1", $"docker://{host.Authority}/{name}:v1", "--format", "v2s2");

        var served = await host.Client.GetManifestAsync(name, "v1", Oci.DockerManifestType);
        Assert.Equal(Oci.DockerManifestType, served.ContentType);
        Assert.NotEqual(image.Manifest.Digest, served.Digest);
        var manifest = served.Json;
        Assert.Equal(Oci.DockerManifestType, manifest.GetProperty("mediaType").GetString());
        Assert.Equal("application/vnd.docker.container.image.v1+json", manifest.GetProperty("config").GetProperty("mediaType").GetString());
        Assert.Equal(image.Config.Digest, manifest.GetProperty("config").GetProperty("digest").GetString());
        var layers = manifest.GetProperty("layers").EnumerateArray().ToList();
        Assert.Equal(image.Layers.Select(l => l.Digest), layers.Select(l => l.GetProperty("digest").GetString()));
        Assert.All(layers, l => Assert.Equal("application/vnd.docker.image.rootfs.diff.tar.gzip", l.GetProperty("mediaType").GetString()));

        // The same digest by digest, and the raw bytes skopeo sees are the stored ones.
        var byDigest = await host.Client.GetManifestAsync(name, served.Digest, Oci.DockerManifestType);
        Assert.Equal(served.Content, byDigest.Content);
        var raw = await Skopeo.RunOkAsync("inspect", "--raw", "--tls-verify=false", "--no-creds", $"docker://{host.Authority}/{name}:v1");
        Assert.Equal(served.Content, raw.Stdout);

        // Pulled back unchanged into a dir: transport.
        var dir = Dir("pulled");
        await Skopeo.PullAsync($"docker://{host.Authority}/{name}:v1", $"dir:{dir}", "--preserve-digests");
        Assert.Equal(served.Content, File.ReadAllBytes(Path.Combine(dir, "manifest.json")));
        foreach (var blob in image.Blobs)
        {
            Assert.Equal(source.ReadBlob(blob.Digest), File.ReadAllBytes(Path.Combine(dir, blob.Hex)));
        }
    }

    [Fact]
    public async Task PushToASecondRepositoryMountsTheBlobsFromTheFirst()
    {
        var host = await SharedRegistry.GetAsync();
        var first = SharedRegistry.UniqueName("ns");
        var second = SharedRegistry.UniqueName("other");
        var source = OciLayout.Create(Dir("src"));
        var image = source.WriteImage(layers: 2, firstLayerBytes: 32 * 1024);
        source.Tag(image.Manifest, "v1");

        await Skopeo.PushAsync($"oci:{source.Root}:v1", $"docker://{host.Authority}/{first}:v1", "--preserve-digests");

        // skopeo remembers where it pushed each layer and asks the registry to mount it instead of
        // uploading it again (the config is always uploaded).
        var push = await Skopeo.PushAsync($"oci:{source.Root}:v1", $"docker://{host.Authority}/{second}:v1", "--preserve-digests", "--debug");
        var lines = push.Stderr.Split('\n');

        // Whether skopeo tries a mount depends on its machine-wide blob-info cache, which concurrent
        // skopeo runs share; so every mount it does try must succeed, and the image must be complete.
        var attempted = image.Layers.Count(layer => lines.Any(l =>
            l.Contains($"POST http://{host.Authority}/v2/{second}/blobs/uploads/?", StringComparison.Ordinal)
            && l.Contains($"mount=sha256%3A{layer.Hex}", StringComparison.Ordinal)));
        Assert.Equal(attempted, lines.Count(l => l.Contains("... mount OK", StringComparison.Ordinal)));

        Assert.Equal(source.ReadBlob(image.Manifest.Digest), (await host.Client.GetManifestAsync(second, "v1")).Content);
        foreach (var blob in image.Blobs)
        {
            Assert.Equal(source.ReadBlob(blob.Digest), await host.Client.GetBlobAsync(second, blob.Digest));
        }
    }

    private string Dir(string label) => Path.Combine(_work, label + "-" + Guid.NewGuid().ToString("N")[..8]);

    private async Task<OciLayout> PullLayoutAsync(RegistryHost host, string reference, string tag, params string[] options)
    {
        var destination = Dir("pull");
        await Skopeo.PullAsync($"docker://{host.Authority}/{reference}", $"oci:{destination}:{tag}", options);
        return OciLayout.Open(destination);
    }
}
