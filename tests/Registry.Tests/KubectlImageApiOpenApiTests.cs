using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace Registry.Tests;

/// <summary>
/// kubectl reading the image API's OpenAPI documents: <c>kubectl explain</c>, kubectl's field
/// validation (left to the server, which refuses unknown fields) without <c>--validate=false</c>,
/// and <c>kubectl get is -A -w</c>, a watch across namespaces.
/// </summary>
[Trait("Category", TestCategories.Kubectl)]
public sealed class KubectlImageApiOpenApiTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _work = new("kubectl-validate-");

    public void Dispose() => _work.Dispose();

    [Fact]
    public async Task KubectlExplainPrintsTheFieldsOfImageStreams()
    {
        var host = await SharedRegistry.GetAsync();
        using var kubectl = new Kubectl(host.BaseAddress);
        var spec = await kubectl.OkAsync("explain", "imagestreams.spec");
        Assert.Contains("KIND:       ImageStream", spec, StringComparison.Ordinal);
        Assert.Contains("lookupPolicy\t<ImageLookupPolicy>", spec, StringComparison.Ordinal);
        Assert.Contains("tags\t<[]TagReference>", spec, StringComparison.Ordinal);

        var items = await kubectl.OkAsync("explain", "is.status.tags.items");
        Assert.Contains("dockerImageReference\t<string> -required-", items, StringComparison.Ordinal);
        var image = await kubectl.OkAsync("explain", "images.dockerImageLayers");
        Assert.Contains("mediaType\t<string> -required-", image, StringComparison.Ordinal);
        var istag = await kubectl.OkAsync("explain", "istag.tag.from");
        Assert.Contains("ObjectReference", istag, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KubectlValidatesWithoutValidateFalseAndTheServerRefusesUnknownFields()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        using var kubectl = new Kubectl(host.BaseAddress);
        var good = Path.Combine(_work.Path, "stream.yaml");
        var bad = Path.Combine(_work.Path, "bad.yaml");
        await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "kubectl-validate");
        const string Tag = "apiVersion: image.openshift.io/v1\nkind: ImageStreamTag\nmetadata:\n  name: app:{0}\ntag:\n  from:\n    kind: ImageStreamTag\n    name: app:v1\n";
        await File.WriteAllTextAsync(good, string.Format(CultureInfo.InvariantCulture, Tag, "v2"));
        await File.WriteAllTextAsync(bad, string.Format(CultureInfo.InvariantCulture, Tag, "v3") + "  x: 1\n");

        // Unknown fields: refused, by default (strict) and with a server-side dry run.
        string[][] refusedCommands = [["create", "-f", bad, "-n", ns], ["create", "-f", bad, "-n", ns, "--dry-run=server"], ["apply", "-f", bad, "-n", ns]];
        foreach (var args in refusedCommands)
        {
            var refused = await kubectl.RunAsync(args);
            Assert.True(refused.ExitCode != 0, refused.Describe());
            Assert.Contains("strict decoding error: unknown field \"tag.x\"", refused.Stderr, StringComparison.Ordinal);
        }

        // A valid tag passes validation (no OpenAPI download error, no --validate=false needed) and is created.
        var valid = await kubectl.RunAsync("create", "-f", good, "-n", ns);
        Assert.False(valid.Stderr.Contains("--validate=false", StringComparison.Ordinal) || valid.Stderr.Contains("openapi", StringComparison.OrdinalIgnoreCase), valid.Describe());
        Assert.True(valid.ExitCode == 0, valid.Describe());

        // --validate=warn: the server warns, kubectl prints it.
        var warned = await kubectl.RunAsync("create", "-f", bad, "-n", ns, "--validate=warn");
        Assert.Contains("Warning: unknown field \"tag.x\"", warned.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KubectlWatchAcrossNamespacesSeesAPushWithinASecond()
    {
        var host = await SharedRegistry.GetAsync();
        var (first, second) = (ImageApi.Namespace(), ImageApi.Namespace());
        await ImageApi.PushAsync(host.Client, $"{first}/app", "v1", "kubectl-across");
        using var kubectl = new Kubectl(host.BaseAddress);
        await using var watch = await kubectl.StartAsync("get", "is", "-A", "-w");
        await watch.WaitForLineAsync(l => l.StartsWith(first + " ", StringComparison.Ordinal));

        var latencies = new List<TimeSpan>();
        foreach (var (ns, tag) in new[] { (second, "v1"), (first, "v2"), (second, "v2") })
        {
            await ImageApi.PushAsync(host.Client, $"{ns}/app", tag, $"kubectl-across-{ns}-{tag}");
            var clock = Stopwatch.StartNew();
            await watch.WaitForLineAsync(l => l.StartsWith(ns + " ", StringComparison.Ordinal) && l.Contains($" {tag}", StringComparison.Ordinal));
            latencies.Add(clock.Elapsed);
        }

        output.WriteLine($"kubectl get is -A -w, push acknowledged -> row printed: {string.Join(", ", latencies.Select(l => $"{l.TotalMilliseconds:F0} ms"))}");
        Assert.All(latencies, l => Assert.True(l < TimeSpan.FromSeconds(1), $"a push reached kubectl after {l}"));
    }

    [Fact]
    public async Task KubectlWatchOfImagesSeesANewImage()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        using var kubectl = new Kubectl(host.BaseAddress);
        await using var watch = await kubectl.StartAsync("get", "images", "-w", "--chunk-size=1");

        // The list comes first (its header line at least), then the watch from its resourceVersion.
        await watch.WaitForLineAsync(l => l.StartsWith("NAME", StringComparison.Ordinal));
        var digest = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "kubectl-images-watch");
        var line = await watch.WaitForLineAsync(l => l.StartsWith(digest, StringComparison.Ordinal));
        Assert.Contains($"{host.Authority}/{ns}/app@{digest}", line, StringComparison.Ordinal);
    }
}
