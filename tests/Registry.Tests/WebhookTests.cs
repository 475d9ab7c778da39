using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Orleans;
using Registry.Api;
using Registry.Grains;
using Xunit.Abstractions;

namespace Registry.Tests;

/// <summary>Pushes and what the helpers of the webhook tests need.</summary>
public static class Webhooks
{
    public const string BlobType = "application/octet-stream";

    /// <summary>Command-line settings for endpoint number <paramref name="index"/>.</summary>
    public static string[] Endpoint(int index, string name, string url, params (string Key, string Value)[] settings)
    {
        var at = $"--Registry:Webhooks:Endpoints:{index}";
        return [$"{at}:Name={name}", $"{at}:Url={url}", .. settings.Select(s => $"{at}:{s.Key}={s.Value}")];
    }

    /// <summary>An endpoint name no other test uses (the metric recorder tells endpoints apart by it).</summary>
    public static string UniqueEndpoint(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..12]}";

    /// <summary>
    /// Pushes a config and <paramref name="layers"/> layers (monolithic POSTs), then the manifest under
    /// <paramref name="tag"/>; returns the digests in the order their events are emitted.
    /// </summary>
    public static async Task<List<string>> PushImageAsync(HttpClient client, string name, string tag, int layers = 1)
    {
        var digests = new List<string>();
        var config = Encoding.UTF8.GetBytes($"{{\"architecture\":\"amd64\",\"os\":\"linux\",\"n\":\"{Guid.NewGuid():N}\"}}");
        digests.Add(await client.PushBlobAsync(name, config));
        var layerBytes = new List<byte[]>();
        for (var i = 0; i < layers; i++)
        {
            var layer = Oci.RandomBytes(512 + i);
            digests.Add(await client.PushBlobAsync(name, layer));
            layerBytes.Add(layer);
        }

        var manifest = Oci.ImageManifest(config, layerBytes);
        using var response = await client.PutManifestAsync(name, tag, manifest);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        digests.Add(Oci.Digest(manifest));
        return digests;
    }

    public static Task<WebhookQueueStatus> QueueAsync(RegistryHost host, string endpoint, string repository)
        => host.Service<IGrainFactory>().GetGrain<IWebhookQueueGrain>(WebhookQueueKey.Of(endpoint, repository.Split('/')[0])).GetStatus().AsTask();

    public static async Task QueueHoldsAsync(RegistryHost host, string endpoint, string repository, Func<WebhookQueueStatus, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Bounded.Timeout;
        while (true)
        {
            var status = await QueueAsync(host, endpoint, repository);
            if (condition(status))
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"timed out waiting until {what}; the queue is {status}");
            }

            // Polls a grain, bounded by the test deadline.
            await Task.Delay(20);
        }
    }

    public static string[] Keys(JsonElement element) => element.EnumerateObject().Select(p => p.Name).ToArray();

    /// <summary>The value below which <paramref name="fraction"/> of the sorted values lie (nearest rank).</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double fraction)
        => sorted[Math.Clamp((int)Math.Ceiling(fraction * sorted.Count) - 1, 0, sorted.Count - 1)];
}

[Trait("Category", TestCategories.Skopeo)]
public sealed class WebhookTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("webhook-test-").FullName;

    public void Dispose() => Skopeo.TryDelete(_work);

    [Fact]
    public async Task ASkopeoPushArrivesInTheReferenceRegistrysEnvelope()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var endpoint = Webhooks.UniqueEndpoint("skopeo");
        await using var host = await RegistryHost.StartAsync(null, Webhooks.Endpoint(0, endpoint, receiver.Url, ("Headers:X-Hook-Token", "s3cret"), ("Headers:Authorization", "Bearer abc")));
        var name = SharedRegistry.UniqueName("hooks");
        var source = OciLayout.Create(Path.Combine(_work, "src"));
        var image = source.WriteImage(layers: 2, firstLayerBytes: 64 * 1024);
        source.Tag(image.Manifest, "v1");
        var before = DateTimeOffset.UtcNow;

        await Skopeo.PushAsync($"oci:{source.Root}:v1", $"docker://{host.Authority}/{name}:v1", "--preserve-digests");

        await receiver.WaitForAsync(events => events.Any(e => e.Digest == image.Manifest.Digest), "the manifest push arrives");
        var events = receiver.Delivered.Where(e => e.Repository == name).ToList();

        // Every POST: the envelope's media type and the configured headers.
        foreach (var post in receiver.Posts)
        {
            Assert.Equal("application/vnd.docker.distribution.events.v1+json", post.ContentType);
            Assert.Equal("s3cret", post.Headers["X-Hook-Token"]);
            Assert.Equal("Bearer abc", post.Headers["Authorization"]);
            using var envelope = JsonDocument.Parse(post.Body);
            Assert.Equal(["events"], Webhooks.Keys(envelope.RootElement));
        }

        // One push event per blob, then the manifest's (order per repository holds).
        Assert.Equal(events.Count, events.Select(e => e.Id).Distinct().Count());
        Assert.All(events, e => Assert.Equal("push", e.Action));
        Assert.Equal(image.Blobs.Select(b => b.Digest).Order(), events.Where(e => e.MediaType == Webhooks.BlobType).Select(e => e.Digest!).Order());
        Assert.Equal(image.Manifest.Digest, events[^1].Digest);
        Assert.Equal(image.Blobs.Count() + 1, events.Count);

        var manifest = events[^1].Json;
        Assert.Equal(["id", "timestamp", "action", "target", "request", "actor", "source", "generation"], Webhooks.Keys(manifest));
        Assert.Matches("^[0-9a-f]{32}$", manifest.GetProperty("id").GetString());
        var timestamp = manifest.GetProperty("timestamp").GetString()!;
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$", timestamp);
        var at = DateTimeOffset.Parse(timestamp, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
        Assert.InRange(at, before.AddSeconds(-1), DateTimeOffset.UtcNow.AddSeconds(1));

        var target = manifest.GetProperty("target");
        Assert.Equal(["mediaType", "digest", "size", "length", "repository", "url", "tag"], Webhooks.Keys(target));
        Assert.Equal(Oci.ManifestType, target.GetProperty("mediaType").GetString());
        Assert.Equal(image.Manifest.Size, target.GetProperty("size").GetInt64());
        Assert.Equal(image.Manifest.Size, target.GetProperty("length").GetInt64());
        Assert.Equal(name, target.GetProperty("repository").GetString());
        Assert.Equal($"http://{host.Authority}/v2/{name}/manifests/{image.Manifest.Digest}", target.GetProperty("url").GetString());
        Assert.Equal("v1", target.GetProperty("tag").GetString());

        var request = manifest.GetProperty("request");
        Assert.Equal(["id", "addr", "host", "method", "useragent"], Webhooks.Keys(request));
        Assert.False(string.IsNullOrEmpty(request.GetProperty("id").GetString()));
        Assert.StartsWith("127.0.0.1:", request.GetProperty("addr").GetString(), StringComparison.Ordinal);
        Assert.Equal(host.Authority, request.GetProperty("host").GetString());
        Assert.Equal("PUT", request.GetProperty("method").GetString());
        Assert.False(string.IsNullOrEmpty(request.GetProperty("useragent").GetString()));

        Assert.Empty(Webhooks.Keys(manifest.GetProperty("actor")));
        var source2 = manifest.GetProperty("source");
        Assert.Equal(["addr", "instanceID"], Webhooks.Keys(source2));
        Assert.False(string.IsNullOrEmpty(source2.GetProperty("addr").GetString()));
        Assert.False(string.IsNullOrEmpty(source2.GetProperty("instanceID").GetString()));
        Assert.True(manifest.GetProperty("generation").GetInt64() >= 1);

        foreach (var blob in events.Where(e => e.MediaType == Webhooks.BlobType))
        {
            Assert.Equal(["mediaType", "digest", "size", "length", "repository", "url"], Webhooks.Keys(blob.Target));
            var descriptor = image.Blobs.Single(b => b.Digest == blob.Digest);
            Assert.Equal(descriptor.Size, blob.Target.GetProperty("size").GetInt64());
            Assert.Equal(descriptor.Size, blob.Target.GetProperty("length").GetInt64());
            Assert.Equal($"http://{host.Authority}/v2/{name}/blobs/{blob.Digest}", blob.Target.GetProperty("url").GetString());
        }
    }

    [Fact]
    public async Task AReceiverThatFailsThenRecoversGetsEverythingInOrderOnce()
    {
        // 500, 503, 502, 500, then a redirect (delivered: 3xx counts), then 200 for good.
        int[] script = [500, 503, 502, 500, 302];
        await using var receiver = await WebhookReceiver.StartAsync(respond: n => n < script.Length ? script[n] : 200);
        var endpoint = Webhooks.UniqueEndpoint("flaky");
        using var metrics = new WebhookMetricRecorder(endpoint);
        await using var host = await RegistryHost.StartAsync(null, Webhooks.Endpoint(0, endpoint, receiver.Url, ("FailureThreshold", "10"), ("InitialBackoff", "00:00:00.05"), ("MaxBackoff", "00:00:00.2"), ("MaxEventsPerPost", "3")));
        var prefix = "hooks" + Guid.NewGuid().ToString("N")[..8];
        string[] repositories = [$"{prefix}/a", $"{prefix}/b", $"{prefix}-other/c"];
        var expected = repositories.ToDictionary(r => r, _ => new List<string>(), StringComparer.Ordinal);

        // Interleaved pushes to three repositories in two namespaces.
        for (var round = 0; round < 3; round++)
        {
            foreach (var repository in repositories)
            {
                expected[repository].AddRange(await Webhooks.PushImageAsync(host.Client, repository, $"v{round}", layers: 2));
            }
        }

        var total = expected.Values.Sum(l => l.Count);
        await receiver.WaitForAsync(events => events.Count >= total, $"{total} events arrive");
        var delivered = receiver.Delivered;
        Assert.Equal(total, delivered.Count);
        Assert.Equal(total, delivered.Select(e => e.Id).Distinct().Count());
        foreach (var repository in repositories)
        {
            Assert.Equal(expected[repository], delivered.Where(e => e.Repository == repository).Select(e => e.Digest!).ToList());
        }

        Assert.True(receiver.Posts.Count(p => p.Status >= 500) == 4, "every failure was retried");
        await Eventually.HoldsAsync(() => metrics.Sum("registry.webhooks.delivered") == total, "the delivered metric counts every event");
        Assert.Equal(4, metrics.Sum("registry.webhooks.failed_attempts"));
        Assert.Equal(0, metrics.Sum("registry.webhooks.dropped"));
        Assert.Equal(total, metrics.Count("registry.webhooks.delivery_latency"));
        await Eventually.HoldsAsync(() => metrics.Sum("registry.webhooks.pending") == 0, "nothing is pending");
        output.WriteLine($"{total} events in {receiver.Posts.Count} POSTs ({receiver.Posts.Count(p => p.Status >= 500)} failed)");
    }

    [Fact]
    public async Task AnEndpointBackFromAnOutageGetsItsEventsWithinSecondsOfTheNextEventNotAfterTheBackoff()
    {
        var down = true;
        await using var receiver = await WebhookReceiver.StartAsync(respond: _ => Volatile.Read(ref down) ? 503 : 200);
        var endpoint = Webhooks.UniqueEndpoint("outage");

        // Failing after 2 attempts, and then retried only every 5-10 minutes.
        await using var host = await RegistryHost.StartAsync(null, Webhooks.Endpoint(0, endpoint, receiver.Url, ("FailureThreshold", "2"), ("InitialBackoff", "00:00:00.05"), ("MaxBackoff", "00:10:00")));
        var name = "hooks" + Guid.NewGuid().ToString("N")[..8] + "/app";
        var before = await Webhooks.PushImageAsync(host.Client, name, "v1", layers: 1);
        await Poll.UntilAsync(() => Task.FromResult(receiver.Attempts >= 2), "the endpoint has failed twice");

        // The endpoint answers again; the next event brings the retry forward (at most 5 s after the last attempt).
        Volatile.Write(ref down, false);
        var after = await Webhooks.PushImageAsync(host.Client, name, "v2", layers: 1);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await receiver.WaitForAsync(events => events.Count >= before.Count + after.Count, "every event arrives", within: TimeSpan.FromSeconds(30));

        Assert.Equal([.. before, .. after], receiver.Delivered.Select(e => e.Digest!).ToList());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"delivered {clock.Elapsed} after the endpoint came back");
        output.WriteLine($"delivered {clock.Elapsed.TotalSeconds:F1} s after the next event; {receiver.Attempts} attempts in all");
    }

    [Fact]
    public async Task PendingDeliveriesSurviveARestart()
    {
        var data = Path.Combine(_work, "data");
        var port = Azurite.FreePort();
        var endpoint = Webhooks.UniqueEndpoint("restart");
        var settings = Webhooks.Endpoint(0, endpoint, $"http://127.0.0.1:{port}/hook", ("InitialBackoff", "00:00:00.1"), ("MaxBackoff", "00:00:01"));
        var prefix = "hooks" + Guid.NewGuid().ToString("N")[..8];
        string[] repositories = [$"{prefix}/a", $"{prefix}-other/b"];
        var expected = new Dictionary<string, List<string>>(StringComparer.Ordinal);

        var clock = Stopwatch.StartNew();
        var host = await RegistryHost.StartAsync(data, settings);
        try
        {
            Assert.True(WebhookReceiver.IsRefused(port), "nothing listens on the receiver's port yet");
            foreach (var repository in repositories)
            {
                expected[repository] = await Webhooks.PushImageAsync(host.Client, repository, "v1", layers: 2);
            }

            foreach (var repository in repositories)
            {
                await Webhooks.QueueHoldsAsync(host, endpoint, repository, s => s.Pending == expected[repository].Count && s.ConsecutiveFailures > 0, "the events are stored and the endpoint refused them");
            }
        }
        finally
        {
            await host.StopAsync();
        }

        await using var receiver = await WebhookReceiver.StartAsync(port);
        await using var restarted = await RegistryHost.StartAsync(data, settings);
        var restartedAt = clock.Elapsed;
        var total = expected.Values.Sum(l => l.Count);
        await receiver.WaitForAsync(events => events.Count >= total, $"the {total} stored events arrive without a new push");
        output.WriteLine($"the stored events arrived {(clock.Elapsed - restartedAt).TotalMilliseconds:F0} ms after the restarted host started");
        var delivered = receiver.Delivered;
        Assert.Equal(total, delivered.Count);
        foreach (var repository in repositories)
        {
            Assert.Equal(expected[repository], delivered.Where(e => e.Repository == repository).Select(e => e.Digest!).ToList());
            await Webhooks.QueueHoldsAsync(restarted, endpoint, repository, s => s.Pending == 0, "the queue is empty");
        }
    }

    [Fact]
    public async Task AHangingReceiverDoesNotSlowPushes()
    {
        await using var receiver = await WebhookReceiver.StartAsync(respond: _ => WebhookReceiver.Hang);
        var endpoint = Webhooks.UniqueEndpoint("hang");
        await using var host = await RegistryHost.StartAsync(null, Webhooks.Endpoint(0, endpoint, receiver.Url, ("Timeout", "00:00:30")));
        var name = SharedRegistry.UniqueName("hooks");
        await Webhooks.PushImageAsync(host.Client, name, "warmup");
        await Eventually.HoldsAsync(() => receiver.Attempts > 0, "the first POST hangs at the receiver");

        var latencies = new List<double>();
        var pushed = 3;
        for (var i = 0; i < 10; i++)
        {
            var config = Encoding.UTF8.GetBytes($"{{\"n\":\"{Guid.NewGuid():N}\"}}");
            var layer = Oci.RandomBytes(2048);
            await host.Client.PushBlobAsync(name, config);
            await host.Client.PushBlobAsync(name, layer);
            var manifest = Oci.ImageManifest(config, [layer]);
            var started = Stopwatch.GetTimestamp();
            using var response = await host.Client.PutManifestAsync(name, $"v{i}", manifest);
            latencies.Add(Stopwatch.GetElapsedTime(started).TotalSeconds);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            pushed += 3;
        }

        output.WriteLine($"manifest PUT with a hanging endpoint: max {latencies.Max() * 1000:F1} ms, median {latencies.Order().ElementAt(latencies.Count / 2) * 1000:F1} ms");
        Assert.All(latencies, l => Assert.True(l < 2, $"a manifest push took {l:F2} s"));
        await Webhooks.QueueHoldsAsync(host, endpoint, name, s => s.Pending == pushed, "every event waits behind the hanging POST");
    }

    [Fact]
    public async Task IgnoredActionsAndMediaTypesAreNotSent()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var endpoint = Webhooks.UniqueEndpoint("ignore");
        await using var host = await RegistryHost.StartAsync(null, Webhooks.Endpoint(0, endpoint, receiver.Url, ("IgnoredMediaTypes:0", Webhooks.BlobType), ("IgnoredActions:0", "delete")));
        var name = SharedRegistry.UniqueName("hooks");
        var first = await Webhooks.PushImageAsync(host.Client, name, "v1");
        using (var delete = await host.Client.DeleteAsync($"/v2/{name}/manifests/v1"))
        {
            Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        }

        var second = await Webhooks.PushImageAsync(host.Client, name, "v2");

        // Events of one repository arrive in order: once the last one is in, the ignored ones would have been too.
        await receiver.WaitForAsync(events => events.Any(e => e.Digest == second[^1]), "the second manifest push arrives");
        var delivered = receiver.Delivered;
        Assert.Equal([(first[^1], "v1"), (second[^1], "v2")], delivered.Select(e => (e.Digest, e.Tag)).ToList());
        Assert.All(delivered, e => Assert.Equal("push", e.Action));
    }

    [Fact]
    public async Task AFullQueueDropsTheOldest()
    {
        var port = Azurite.FreePort();
        var endpoint = Webhooks.UniqueEndpoint("full");
        using var metrics = new WebhookMetricRecorder(endpoint);
        await using var host = await RegistryHost.StartAsync(null, Webhooks.Endpoint(0, endpoint, $"http://127.0.0.1:{port}/hook", ("MaxPending", "3"), ("InitialBackoff", "00:00:00.1"), ("MaxBackoff", "00:00:00.3")));
        var name = SharedRegistry.UniqueName("hooks");
        var digests = new List<string>();
        for (var i = 0; i < 7; i++)
        {
            digests.Add(await host.Client.PushBlobAsync(name, Oci.RandomBytes(100 + i)));
        }

        await Webhooks.QueueHoldsAsync(host, endpoint, name, s => s is { Pending: 3, Dropped: 4 }, "the four oldest are dropped");
        Assert.Equal(4, metrics.Sum("registry.webhooks.dropped"));
        Assert.Equal(3, metrics.Sum("registry.webhooks.pending"));
        // The queue can fill before the first refused attempt is over: wait for it to be counted.
        await Eventually.HoldsAsync(() => metrics.Sum("registry.webhooks.failed_attempts") >= 1, "the refused connections count as failed attempts");

        await using var receiver = await WebhookReceiver.StartAsync(port);
        await receiver.WaitForAsync(events => events.Count >= 3, "the three newest arrive");
        Assert.Equal(digests[^3..], receiver.Delivered.Select(e => e.Digest!).ToList());
        await Eventually.HoldsAsync(() => metrics.Sum("registry.webhooks.pending") == 0 && metrics.Sum("registry.webhooks.delivered") == 3, "the metrics count the delivery");
    }

    [Fact]
    public async Task AnEventSeenAgainIsDeliveredOnce()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var endpoint = Webhooks.UniqueEndpoint("dedupe");
        await using var host = await RegistryHost.StartAsync(null, Webhooks.Endpoint(0, endpoint, receiver.Url));
        var queue = host.Service<IGrainFactory>().GetGrain<IWebhookQueueGrain>(WebhookQueueKey.Of(endpoint, "dedupe"));
        RegistryEvent Event(string id) => new(id, DateTimeOffset.UtcNow, RegistryEvent.Push, new EventTarget(Webhooks.BlobType, Oci.Digest([1]), 1, "dedupe/x", null, null, null), EventRequest.None, null, EventSourceReplica.None, 0);

        // As a stream delivers again after a failure, or a repository republishes its outbox after a crash.
        await queue.Enqueue(Event("first"));
        await queue.Enqueue(Event("first"));
        await queue.Enqueue(Event("second"));
        await receiver.WaitForAsync(events => events.Any(e => e.Id == "second"), "the second event arrives");
        await queue.Enqueue(Event("first"));
        await queue.Enqueue(Event("third"));
        await receiver.WaitForAsync(events => events.Any(e => e.Id == "third"), "the third event arrives");
        Assert.Equal(["first", "second", "third"], receiver.Delivered.Select(e => e.Id).ToList());
    }

    [Fact]
    public async Task InvalidWebhookSettingsStopTheHostWithAMessage()
    {
        string[] args =
        [
            "--Registry:DataDirectory=" + Path.Combine(_work, "invalid"),
            .. Webhooks.Endpoint(0, "same", "ftp://example.com/hook", ("Timeout", "00:00:00")),
            .. Webhooks.Endpoint(1, "same", "/relative", ("InitialBackoff", "00:10:00"), ("Headers:Content-Type", "text/plain")),
        ];
        var error = Assert.Throws<OptionsValidationException>(() => RegistryApp.Create(args));
        var message = string.Join("\n", error.Failures);
        Assert.Contains("Registry:Webhooks:Endpoints:0:Url 'ftp://example.com/hook' is not an absolute http(s) URL", message, StringComparison.Ordinal);
        Assert.Contains("Registry:Webhooks:Endpoints:1:Url '/relative' is not an absolute http(s) URL", message, StringComparison.Ordinal);
        Assert.Contains("Registry:Webhooks:Endpoints:1:Name 'same' is used by another endpoint", message, StringComparison.Ordinal);
        Assert.Contains("Registry:Webhooks:Endpoints:0:Timeout 00:00:00 must be a positive duration", message, StringComparison.Ordinal);
        Assert.Contains("Registry:Webhooks:Endpoints:1:InitialBackoff 00:10:00 is longer than Registry:Webhooks:Endpoints:1:MaxBackoff", message, StringComparison.Ordinal);
        Assert.Contains("Registry:Webhooks:Endpoints:1:Headers:Content-Type is set by the registry itself", message, StringComparison.Ordinal);
    }
}

/// <summary>The delivery-delay measurement runs alone, so other tests do not skew it.</summary>
[CollectionDefinition(nameof(WebhookLatencyCollection), DisableParallelization = true)]
public sealed class WebhookLatencyCollection;

[Trait("Category", TestCategories.Slow)]
[Collection(nameof(WebhookLatencyCollection))]
public sealed class WebhookLatencyTests(ITestOutputHelper output)
{
    public const int Pushes = 50;

    /// <summary>
    /// The time from a manifest push's acknowledgement (its 201 reaching the client) to its event
    /// reaching the receiver, one push at a time.
    /// </summary>
    public static async Task<IReadOnlyList<double>> MeasureAsync(HttpClient registry, WebhookReceiver receiver, string name, int pushes)
    {
        var delays = new List<double>();
        for (var i = 0; i < pushes; i++)
        {
            var config = Encoding.UTF8.GetBytes($"{{\"n\":\"{Guid.NewGuid():N}\"}}");
            var layer = Oci.RandomBytes(1024);
            await registry.PushBlobAsync(name, config);
            await registry.PushBlobAsync(name, layer);
            var manifest = Oci.ImageManifest(config, [layer]);
            var digest = Oci.Digest(manifest);
            using (var response = await registry.PutManifestAsync(name, "latest", manifest))
            {
                Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            }

            var acknowledged = Stopwatch.GetTimestamp();
            await receiver.WaitForAsync(events => events.Any(e => e.Digest == digest), $"push {i} arrives");
            var arrived = receiver.Delivered.First(e => e.Digest == digest).ReceivedAt;
            delays.Add((arrived - acknowledged) * 1000.0 / Stopwatch.Frequency);
        }

        return delays.Order().ToArray();
    }

    public static string Describe(string mode, IReadOnlyList<double> sorted)
        => string.Create(CultureInfo.InvariantCulture, $"{mode}: push acknowledged -> webhook received over {sorted.Count} pushes: median {Webhooks.Percentile(sorted, 0.5):F1} ms, p99 {Webhooks.Percentile(sorted, 0.99):F1} ms, min {sorted[0]:F1} ms, max {sorted[^1]:F1} ms");

    [Fact]
    public async Task DeliveryDelayInEmbeddedMode()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var host = await RegistryHost.StartAsync(null, Webhooks.Endpoint(0, Webhooks.UniqueEndpoint("latency"), receiver.Url));
        var name = SharedRegistry.UniqueName("hooks");
        await MeasureAsync(host.Client, receiver, name, 3);
        var delays = await MeasureAsync(host.Client, receiver, name, Pushes);
        output.WriteLine(Describe("embedded", delays));
        Assert.True(Webhooks.Percentile(delays, 0.5) < 1000, Describe("embedded", delays));
    }
}
