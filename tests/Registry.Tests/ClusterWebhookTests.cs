using Xunit.Abstractions;

namespace Registry.Tests;

/// <summary>Webhooks in cluster mode: events travel on Azure Queue streams (polled) between replicas.</summary>
[Trait("Category", TestCategories.Process)]
[Trait("Category", TestCategories.Azurite)]
public sealed class ClusterWebhookTests(ITestOutputHelper output)
{
    [Fact]
    public async Task EventsOfEitherReplicaArriveAndTheDelayIsMeasured()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await using var azurite = await Azurite.StartAsync();
        await using var receiver = await WebhookReceiver.StartAsync();
        var cluster = "c" + Guid.NewGuid().ToString("N")[..12];
        (string, string)[] settings =
        [
            ("Registry__Webhooks__Endpoints__0__Name", "cluster"),
            ("Registry__Webhooks__Endpoints__0__Url", receiver.Url),
        ];
        await using var a = await RegistryProcess.StartAsync(azurite.ConnectionString, cluster, settings: settings);
        await using var b = await RegistryProcess.StartAsync(azurite.ConnectionString, cluster, settings: settings);

        output.WriteLine($"two replicas serving after {clock.Elapsed.TotalSeconds:F1} s");

        // Pushes through both replicas, to repositories of several namespaces (their grains spread over both silos).
        var expected = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        for (var i = 0; i < 4; i++)
        {
            var name = SharedRegistry.UniqueName($"ns{i}");
            expected[name] = await Webhooks.PushImageAsync((i % 2 == 0 ? a : b).Client, name, "v1");
        }

        var total = expected.Values.Sum(l => l.Count);
        await receiver.WaitForAsync(events => events.Count >= total, $"{total} events arrive");
        foreach (var (name, digests) in expected)
        {
            Assert.Equal(digests, receiver.Delivered.Where(e => e.Repository == name).Select(e => e.Digest!).ToList());
        }

        output.WriteLine($"{total} events of both replicas delivered after {clock.Elapsed.TotalSeconds:F1} s");
        var repository = SharedRegistry.UniqueName("latency");
        await WebhookLatencyTests.MeasureAsync(a.Client, receiver, repository, 3);
        var delays = await WebhookLatencyTests.MeasureAsync(a.Client, receiver, repository, WebhookLatencyTests.Pushes);
        output.WriteLine(WebhookLatencyTests.Describe("cluster (Azure Queue streams on Azurite)", delays));
        output.WriteLine($"measured after {clock.Elapsed.TotalSeconds:F1} s");
        Assert.True(Webhooks.Percentile(delays, 0.5) < 10_000, WebhookLatencyTests.Describe("cluster", delays));
    }
}
