using System.Globalization;
using System.Net;

namespace Registry.Tests;

/// <summary>
/// Hosts in one test process share metric streams by name (OpenTelemetry listens to every meter
/// called "Registry", whichever host made it), and a host that stops retires the streams it shared.
/// So these tests run alone, on their own host, after the parallel ones.
/// </summary>
[CollectionDefinition(nameof(MetricsCollection), DisableParallelization = true)]
public sealed class MetricsCollection;

[Trait("Category", TestCategories.Fast)]
[Collection(nameof(MetricsCollection))]
public sealed class MetricsTests
{
    [Fact]
    public async Task MetricsAfterAPushCountBytesRoutesAndOrleans()
    {
        await using var host = await RegistryHost.StartAsync();
        var name = SharedRegistry.UniqueName("metrics");
        var layer = Oci.RandomBytes(256 * 1024);
        await host.Client.PushBlobAsync(name, layer);
        var (digest, manifest) = await host.Client.PushImageAsync(name, "v1");
        using (var get = await host.Client.GetAsync($"/v2/{name}/manifests/v1"))
        {
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        }

        var pulled = await host.Client.GetByteArrayAsync($"/v2/{name}/blobs/{Oci.Digest(layer)}");
        Assert.Equal(layer.Length, pulled.Length);

        using var response = await host.Client.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();

        // PushImageAsync pushes a config and layers of 1024 and 1025 bytes besides the manifest.
        Assert.True(Sum(text, "registry_blob_bytes_received") >= layer.Length + 1024 + 1025, "bytes received");
        Assert.True(Sum(text, "registry_blob_bytes_sent") >= layer.Length, "bytes sent");
        Assert.Contains(Samples(text, "http_server_request_duration_seconds_count"), s => s.Labels.Contains("registry_route=\"manifest\"", StringComparison.Ordinal) && s.Labels.Contains("http_request_method=\"PUT\"", StringComparison.Ordinal));
        Assert.Contains(Samples(text, "http_server_request_duration_seconds_count"), s => s.Labels.Contains("registry_route=\"blob\"", StringComparison.Ordinal));
        Assert.Contains(Samples(text, "registry_storage_duration_seconds_count"), s => s.Labels.Contains("operation=\"commit_upload\"", StringComparison.Ordinal));
        Assert.Contains("\norleans_", text, StringComparison.Ordinal);
        Assert.NotNull(digest);
        Assert.NotEmpty(manifest);
    }

    [Fact]
    public async Task ActiveUploadsRiseOnStartAndFallOnCancel()
    {
        await using var host = await RegistryHost.StartAsync();
        var name = SharedRegistry.UniqueName("metrics");
        using var start = await host.Client.PostAsync($"/v2/{name}/blobs/uploads/", null);
        Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        var started = await ScrapeUntilAsync(host, text => Value(text, "registry_uploads_active") >= 1);

        using var cancel = await host.Client.DeleteAsync(start.Headers.Location);
        Assert.Equal(HttpStatusCode.NoContent, cancel.StatusCode);
        await ScrapeUntilAsync(host, text => Value(text, "registry_uploads_active") == Value(started, "registry_uploads_active") - 1);
    }

    [Fact]
    public async Task AClientThatGoesAwayMidUploadIsCountedNotFailed()
    {
        await using var host = await RegistryHost.StartAsync();

        // A body announced four times longer than sent; then a reset (linger 0), and a plain close.
        // Kestrel reports one as a reset and the other as a body that ended early, or either as either.
        await AbandonUploadAsync(host, reset: true);
        await AbandonUploadAsync(host, reset: false);

        var text = await ScrapeUntilAsync(host, text => Value(text, "registry_http_client_gone") >= 2);
        Assert.All(Samples(text, "registry_http_client_gone"), s => Assert.Contains("registry_route=\"upload\"", s.Labels, StringComparison.Ordinal));
        Assert.DoesNotContain(Samples(text, "http_server_request_duration_seconds_count"), s => s.Labels.Contains("http_response_status_code=\"500\"", StringComparison.Ordinal));
    }

    private static async Task AbandonUploadAsync(RegistryHost host, bool reset)
    {
        var content = Oci.RandomBytes(64 * 1024);
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, host.BaseAddress.Port);
        var head = $"POST /v2/{SharedRegistry.UniqueName("gone")}/blobs/uploads/?digest={Oci.Digest(content)} HTTP/1.1\r\nHost: {host.Authority}\r\nContent-Length: {content.Length * 4}\r\n\r\n";
        await client.GetStream().WriteAsync(System.Text.Encoding.ASCII.GetBytes(head));
        await client.GetStream().WriteAsync(content);
        if (reset)
        {
            client.LingerState = new System.Net.Sockets.LingerOption(true, 0);
        }
    }

    /// <summary>Scrapes until <paramref name="condition"/> holds (the endpoint caches a scrape for 300 ms).</summary>
    private static async Task<string> ScrapeUntilAsync(RegistryHost host, Func<string, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var text = await host.Client.GetStringAsync("/metrics");
            if (condition(text))
            {
                return text;
            }

            Assert.True(DateTime.UtcNow < deadline, "metrics never met the condition:\n" + text);
            await Task.Delay(100);
        }
    }

    private static double Value(string text, string prefix) => Samples(text, prefix).Sum(s => s.Value);

    private static double Sum(string text, string prefix)
    {
        var samples = Samples(text, prefix).ToList();
        Assert.True(samples.Count > 0, $"no metric starting with {prefix}");
        return samples.Sum(s => s.Value);
    }

    /// <summary>Samples of the Prometheus text format whose metric name starts with <paramref name="prefix"/>.</summary>
    private static IEnumerable<(string Name, string Labels, double Value)> Samples(string text, string prefix)
    {
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith('#') || !line.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }

            var brace = line.IndexOf('{', StringComparison.Ordinal);
            var close = brace >= 0 ? line.LastIndexOf('}') : -1;
            var name = brace >= 0 ? line[..brace] : line[..line.IndexOf(' ', StringComparison.Ordinal)];
            var labels = brace >= 0 ? line[(brace + 1)..close] : "";
            var rest = line[((close >= 0 ? close + 1 : name.Length))..].Trim().Split(' ');
            yield return (name, labels, double.Parse(rest[0], CultureInfo.InvariantCulture));
        }
    }
}
