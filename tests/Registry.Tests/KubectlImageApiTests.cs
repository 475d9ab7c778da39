using System.Text.Json;
using YamlDotNet.RepresentationModel;

namespace Registry.Tests;

/// <summary>
/// kubectl against the registry with <c>--server</c>: discovery, lists, objects as JSON and YAML,
/// server-side tables with the columns <c>oc</c> prints, and errors as kubectl words them. Images
/// are pushed with skopeo from OCI layouts written on disk.
/// </summary>
[Trait("Category", TestCategories.Kubectl)]
public sealed class KubectlImageApiTests : IDisposable
{
    private readonly TempDirectory _work = new("kubectl-images-");

    public void Dispose() => _work.Dispose();

    [Fact]
    public async Task KubectlGetsStreamsTagsAndImagesOfPushedImages()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var layout = OciLayout.Create(System.IO.Path.Combine(_work.Path, "src"));
        var first = layout.WriteImage(layers: 2, firstLayerBytes: 4096);
        var second = layout.WriteImage(layers: 1, architecture: "arm64", firstLayerBytes: 2048);
        layout.Tag(first.Manifest, "v1");
        layout.Tag(second.Manifest, "v2");
        await Skopeo.PushAsync($"oci:{layout.Root}:v1", $"docker://{host.Authority}/{ns}/app:v1", "--preserve-digests");
        await Skopeo.PushAsync($"oci:{layout.Root}:v2", $"docker://{host.Authority}/{ns}/app:latest", "--preserve-digests");
        await Skopeo.PushAsync($"oci:{layout.Root}:v1", $"docker://{host.Authority}/{ns}/app:latest", "--preserve-digests");
        await Skopeo.PushAsync($"oci:{layout.Root}:v1", $"docker://{host.Authority}/{ns}/tools/build:v1", "--preserve-digests");

        using var kubectl = new Kubectl(host.BaseAddress);

        // The table, with oc's columns; the deeper repository as its '~' name.
        var table = (await kubectl.OkAsync("get", "imagestreams", "-n", ns)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["NAME", "IMAGE", "REPOSITORY", "TAGS", "UPDATED"], table[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(3, table.Length);
        var app = table[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["app", $"{host.Authority}/{ns}/app", "latest,v1"], app[..3]);
        Assert.EndsWith("ago", table[1], StringComparison.Ordinal);
        Assert.StartsWith("tools~build ", table[2], StringComparison.Ordinal);

        // The stream as YAML: latest's history, newest first.
        var yaml = new YamlStream();
        yaml.Load(new StringReader(await kubectl.OkAsync("get", "is", "app", "-n", ns, "-o", "yaml")));
        var stream = (YamlMappingNode)yaml.Documents[0].RootNode;
        Assert.Equal("ImageStream", Scalar(stream, "kind"));
        Assert.Equal(ns, Scalar((YamlMappingNode)stream["metadata"], "namespace"));
        var latest = ((YamlSequenceNode)((YamlMappingNode)stream["status"])["tags"]).Cast<YamlMappingNode>().Single(t => Scalar(t, "tag") == "latest");
        Assert.Equal([first.Manifest.Digest, second.Manifest.Digest], ((YamlSequenceNode)latest["items"]).Cast<YamlMappingNode>().Select(i => Scalar(i, "image")));

        // The tag as JSON, with the image's layers and config metadata.
        using var istag = JsonDocument.Parse(await kubectl.OkAsync("get", "istag", "app:v1", "-n", ns, "-o", "json"));
        var image = istag.RootElement.GetProperty("image");
        Assert.Equal(first.Manifest.Digest, image.GetProperty("metadata").GetProperty("name").GetString());
        Assert.Equal(first.Layers.Select(l => (l.Digest, l.Size)), image.GetProperty("dockerImageLayers").EnumerateArray().Select(l => (l.GetProperty("name").GetString()!, l.GetProperty("size").GetInt64())));
        Assert.Equal(first.Architecture, image.GetProperty("dockerImageMetadata").GetProperty("Architecture").GetString());
        Assert.Equal(first.Os, image.GetProperty("dockerImageMetadata").GetProperty("Os").GetString());

        // Images are cluster-scoped and named by digest.
        var images = await kubectl.OkAsync("get", "images");
        Assert.Contains(first.Manifest.Digest, images, StringComparison.Ordinal);
        Assert.Contains(second.Manifest.Digest, images, StringComparison.Ordinal);
        Assert.StartsWith("NAME", images, StringComparison.Ordinal);

        var all = await kubectl.OkAsync("get", "is", "-A");
        Assert.Contains(all.Split('\n'), l => l.StartsWith(ns + " ", StringComparison.Ordinal) && l.Contains(" app ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task KubectlWordsMissingAndInvalidNamesFromTheStatus()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "kubectl-errors");
        using var kubectl = new Kubectl(host.BaseAddress);

        var missing = await kubectl.RunAsync("get", "is", "nope", "-n", ns);
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("(NotFound): imagestreams.image.openshift.io \"nope\" not found", missing.Stderr, StringComparison.Ordinal);

        var noNamespace = await kubectl.RunAsync("get", "is", "app", "-n", "nope-" + ns);
        Assert.Contains($"namespaces \"nope-{ns}\" not found", noNamespace.Stderr, StringComparison.Ordinal);

        var invalid = await kubectl.RunAsync("get", "istag", "app", "-n", ns);
        Assert.NotEqual(0, invalid.ExitCode);
        Assert.Contains("(BadRequest)", invalid.Stderr, StringComparison.Ordinal);

        var empty = await kubectl.RunAsync("get", "is", "-n", "empty-" + ns);
        Assert.Equal(0, empty.ExitCode);
        Assert.Contains("No resources found", empty.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KubectlWatchShowsAPush()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "kubectl-watch");
        using var kubectl = new Kubectl(host.BaseAddress);
        await using var watch = await kubectl.StartAsync("get", "is", "-n", ns, "-w");

        // The list first (the stream as it is), then the push as a new row.
        await watch.WaitForLineAsync(l => l.StartsWith("app ", StringComparison.Ordinal) && l.Contains(" v1 ", StringComparison.Ordinal));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await ImageApi.PushAsync(host.Client, $"{ns}/app", "v2", "kubectl-watch-2");
        var line = await watch.WaitForLineAsync(l => l.StartsWith("app ", StringComparison.Ordinal) && l.Contains("v2,v1", StringComparison.Ordinal));
        Assert.Contains($"{host.Authority}/{ns}/app", line, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the push reached kubectl after {clock.Elapsed}");
    }

    private static string? Scalar(YamlMappingNode node, string key) => ((YamlScalarNode)node[key]).Value;
}
