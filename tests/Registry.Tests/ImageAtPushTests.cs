using System.Diagnostics;
using System.Net;
using Registry.Grains;
using Xunit.Abstractions;

namespace Registry.Tests;

/// <summary>
/// An image's facts and holders kept at push (ImageAtPush), before the image API reads anything:
/// the grain holds them after a /v2 push; a config over the bound gives no metadata; the /v2 push
/// latency with and without the work at push.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ImageAtPushTests(ITestOutputHelper output)
{
    [Fact]
    public async Task AfterAPushTheImageGrainHoldsTheFactsAndTheRepositoryBeforeAnyRead()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var pushed = await ImageApi.PushDetailedAsync(host.Client, $"{ns}/app", "v1", "at-push");
        var clock = Stopwatch.StartNew();

        // Nothing of the image API is read: the grain gets its facts from the push alone.
        var image = host.Service<IGrainFactory>().GetGrain<IImageGrain>(pushed.Digest);
        ImageFacts? facts = null;
        await Poll.UntilAsync(async () => (facts = await image.Get()) is not null, "the image's grain holds its facts");
        output.WriteLine($"push acknowledged -> facts kept: within {clock.Elapsed.TotalMilliseconds:F0} ms (polled every 50 ms)");
        Assert.Equal(Oci.Digest(pushed.Config), facts!.ConfigBlob!.Digest);
        Assert.Equal("arm64", facts.Config!.Architecture);
        Assert.Equal("linux", facts.Config.Os);
        Assert.Equal(["serve"], facts.Config.Cmd!);
        Assert.Equal("at-push", facts.Config.Labels!["name"]);
        Assert.Equal(pushed.Layers.Select(Oci.Digest), facts.Layers.Select(l => l.Digest));
        Assert.Equal(pushed.Config.Length + pushed.Layers.Sum(l => l.Length), facts.Size);

        await Poll.UntilAsync(async () => (await image.GetHolding()).Holders == 1, "the image's grain records its repository");
        Assert.Equal([$"{ns}/app"], (await image.GetHolding()).Repositories);
    }

    [Fact]
    public async Task AConfigLargerThanTheBoundGivesNoMetadata()
    {
        await using var host = await RegistryHost.StartAsync(null, "--Registry:ImageApi:MaxConfigBytes=4096");
        var repository = $"{ImageApi.Namespace()}/big";
        var config = Oci.Json(new { architecture = "amd64", os = "linux", config = new { Env = new[] { $"PAD={new string('x', 5000)}" } } });
        Assert.True(config.Length > 4096);
        var layer = Oci.RandomBytes(100);
        await host.Client.PushBlobAsync(repository, config);
        await host.Client.PushBlobAsync(repository, layer);
        var manifest = Oci.ImageManifest(config, [layer]);
        using (var put = await host.Client.PutManifestAsync(repository, "v1", manifest))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        var image = host.Service<IGrainFactory>().GetGrain<IImageGrain>(Oci.Digest(manifest));
        ImageFacts? facts = null;
        await Poll.UntilAsync(async () => (facts = await image.Get()) is not null, "the image's grain holds its facts");
        Assert.Null(facts!.Config);
        Assert.Equal(config.Length, facts.ConfigBlob!.Size);
        Assert.Equal(config.Length + layer.Length, facts.Size);
    }

    [Fact]
    public async Task WithTheQueueFullHoldingsAreStillRecordedAndFactsComputedOnRead()
    {
        await using var host = await RegistryHost.StartAsync(null, "--Registry:ImageApi:FactsQueueCapacity=1", "--Registry:ImageApi:FactsWorkers=1");
        var ns = ImageApi.Namespace();
        var digests = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => ImageApi.PushAsync(host.Client, $"{ns}/r{i % 3}", $"t{i}", $"full-{i}")));
        var grains = host.Service<IGrainFactory>();
        foreach (var (digest, i) in digests.Select((d, i) => (d, i)))
        {
            var image = grains.GetGrain<IImageGrain>(digest);
            await Poll.UntilAsync(async () => (await image.GetHolding()).Repositories.SequenceEqual([$"{ns}/r{i % 3}"]), $"image {i} is recorded as held");

            // Whether its facts were computed at push or left to this read, the read has them.
            using var read = await ImageApi.GetJsonAsync(host.Client, $"/apis/image.openshift.io/v1/images/{digest}");
            Assert.Equal("arm64", read.RootElement.GetProperty("dockerImageMetadata").GetProperty("Architecture").GetString());
        }
    }

    /// <summary>
    /// Not an assertion of speed (the machine is shared): the median and p90 of sequential manifest
    /// PUTs with the work at push on and off, printed for docs/image-api.md.
    /// </summary>
    [Fact]
    public async Task PushLatencyWithAndWithoutTheWorkAtPush()
    {
        const int Pushes = 60;
        var figures = new List<string>();
        foreach (var atPush in new[] { true, false, true, false })
        {
            await using var host = await RegistryHost.StartAsync(null, $"--Registry:ImageApi:FactsAtPush={atPush}");
            var repository = $"{ImageApi.Namespace()}/lat";
            var config = Oci.Json(new { architecture = "amd64", os = "linux" });
            var layer = Oci.RandomBytes(100);
            await host.Client.PushBlobAsync(repository, config);
            await host.Client.PushBlobAsync(repository, layer);
            var timings = new List<double>();
            for (var i = 0; i < Pushes + 10; i++)
            {
                // Each manifest is new (an annotation), so each is an image of its own to compute.
                var manifest = Oci.ImageManifest(config, [layer], annotations: new Dictionary<string, string> { ["n"] = $"{i}" });
                var clock = Stopwatch.StartNew();
                using var put = await host.Client.PutManifestAsync(repository, $"t{i}", manifest);
                Assert.Equal(HttpStatusCode.Created, put.StatusCode);
                if (i >= 10)
                {
                    timings.Add(clock.Elapsed.TotalMilliseconds);
                }
            }

            timings.Sort();
            figures.Add($"at push {(atPush ? "on " : "off")}: p50 {timings[timings.Count / 2]:F1} ms, p90 {timings[timings.Count * 9 / 10]:F1} ms ({Pushes} PUTs)");
        }

        output.WriteLine(string.Join(Environment.NewLine, figures));
    }
}
