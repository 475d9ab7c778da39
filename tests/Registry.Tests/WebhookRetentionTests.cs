using System.Diagnostics;
using Microsoft.Extensions.Options;
using Registry.Api;
using Registry.Grains;
using Xunit.Abstractions;

namespace Registry.Tests;

/// <summary>
/// Queued webhook events are deleted only by an explicit removal (<c>Registry:Webhooks:Purge</c>),
/// never because an endpoint is missing from the configuration; and an endpoint back from an
/// outage gets its events within seconds without a new event (the probe), while a dead one is
/// probed, not sent deliveries.
/// </summary>
[Trait("Category", TestCategories.Slow)]
public sealed class WebhookRetentionTests(ITestOutputHelper output)
{
    [Fact]
    public async Task TheQueueOfAnEndpointMissingFromTheConfigurationIsKeptAndDeliveredWhenItReturns()
    {
        using var data = new TempDirectory();
        var (endpoint, port, settings, name, expected) = await QueueWhileRefusedAsync(data.Path, "kept");

        // The endpoint is gone from the configuration (a typo would do the same): its events stay.
        await using (var without = await RegistryHost.StartAsync(data.Path))
        {
            await Webhooks.QueueHoldsAsync(without, endpoint, name, s => s.Held, "the queue has found its endpoint missing");
            var status = await Webhooks.QueueAsync(without, endpoint, name);
            Assert.Equal(expected.Count, status.Pending);
            Assert.Equal(0, status.Dropped);
            Assert.Contains(WebhookQueueKey.Of(endpoint, name.Split('/')[0]), await without.Service<IGrainFactory>().GetGrain<IWebhookDirectoryGrain>(0).List());
        }

        // Configured again, with its receiver up: the kept events go out without a new push.
        await using var receiver = await WebhookReceiver.StartAsync(port);
        await using var back = await RegistryHost.StartAsync(data.Path, settings);
        await receiver.WaitForAsync(events => events.Count >= expected.Count, $"the {expected.Count} kept events arrive");
        Assert.Equal(expected, receiver.Delivered.Select(e => e.Digest!).ToList());
        await Webhooks.QueueHoldsAsync(back, endpoint, name, s => s.Pending == 0 && s.Dropped == 0, "the queue is empty and dropped nothing");
    }

    [Fact]
    public async Task PurgeDeletesTheQueuedEventsOfAnEndpointNoLongerConfigured()
    {
        using var data = new TempDirectory();
        var (endpoint, port, settings, name, expected) = await QueueWhileRefusedAsync(data.Path, "purged");
        var key = WebhookQueueKey.Of(endpoint, name.Split('/')[0]);

        await using (var purging = await RegistryHost.StartAsync(data.Path, $"--Registry:Webhooks:Purge:0={endpoint}"))
        {
            await Webhooks.QueueHoldsAsync(purging, endpoint, name, s => s.Pending == 0 && s.Dropped == expected.Count, "the purge has deleted the queued events");
            var directory = purging.Service<IGrainFactory>().GetGrain<IWebhookDirectoryGrain>(0);
            await Poll.UntilAsync(async () => !(await directory.List()).Contains(key), "the emptied queue has left the directory");
        }

        // The deletion is stored: configured again, the endpoint has nothing waiting.
        await using var receiver = await WebhookReceiver.StartAsync(port);
        await using var back = await RegistryHost.StartAsync(data.Path, settings);
        var status = await Webhooks.QueueAsync(back, endpoint, name);
        Assert.Equal(0, status.Pending);
        Assert.Equal(expected.Count, status.Dropped);
    }

    [Fact]
    public void PurgingAConfiguredEndpointOrAnInvalidNameStopsTheStart()
    {
        using var data = new TempDirectory();
        string[] args =
        [
            "--Registry:DataDirectory=" + data.Path,
            .. Webhooks.Endpoint(0, "live", "http://127.0.0.1:1/hook"),
            "--Registry:Webhooks:Purge:0=live",
            "--Registry:Webhooks:Purge:1=not/a name",
        ];
        var error = Assert.Throws<OptionsValidationException>(() => RegistryApp.Create(args));
        var message = string.Join("\n", error.Failures);
        Assert.Contains("Registry:Webhooks:Purge:0 'live' is a configured endpoint", message, StringComparison.Ordinal);
        Assert.Contains("Registry:Webhooks:Purge:1 'not/a name' is not a valid endpoint name", message, StringComparison.Ordinal);

        var scalar = Assert.Throws<OptionsValidationException>(() => RegistryApp.Create(["--Registry:DataDirectory=" + data.Path, "--Registry:Webhooks:Purge=old"]));
        Assert.Contains("Registry:Webhooks:Purge is a list of endpoint names", string.Join("\n", scalar.Failures), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnEndpointThatWasUnreachableGetsItsEventsWithinSecondsOfAnsweringWithoutANewEvent()
    {
        var port = Azurite.FreePort();
        var endpoint = Webhooks.UniqueEndpoint("probe");

        // Failing after 2 attempts, and then retried only every 5-10 minutes.
        await using var host = await RegistryHost.StartAsync(null, Webhooks.Endpoint(0, endpoint, $"http://127.0.0.1:{port}/hook", ("FailureThreshold", "2"), ("InitialBackoff", "00:00:00.05"), ("MaxBackoff", "00:10:00")));
        var name = "probe" + Guid.NewGuid().ToString("N")[..8] + "/app";
        Assert.True(WebhookReceiver.IsRefused(port), "nothing listens on the receiver's port yet");
        var expected = await Webhooks.PushImageAsync(host.Client, name, "v1", layers: 1);
        await Webhooks.QueueHoldsAsync(host, endpoint, name, s => s.Failing, "the endpoint is failing");

        // The receiver comes up; no event follows. The probe finds it answering.
        await using var receiver = await WebhookReceiver.StartAsync(port);
        var clock = Stopwatch.StartNew();
        await receiver.WaitForAsync(events => events.Count >= expected.Count, "every event arrives", within: TimeSpan.FromSeconds(45));
        Assert.Equal(expected, receiver.Delivered.Select(e => e.Digest!).ToList());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"delivered {clock.Elapsed} after the endpoint came back");
        output.WriteLine($"delivered {clock.Elapsed.TotalSeconds:F1} s after the receiver came up, with no new event; {receiver.Probes} probes answered");
    }

    [Fact]
    public async Task ADeadEndpointIsProbedNotSentDeliveriesAndGetsItsEventsSoonAfterItAnswers()
    {
        // A receiver behind a proxy whose backend is down: 503 to everything, the probe included.
        var down = true;
        await using var receiver = await WebhookReceiver.StartAsync(respond: _ => Volatile.Read(ref down) ? 503 : 200);
        receiver.ProbeStatus = () => Volatile.Read(ref down) ? 503 : 405;
        var endpoint = Webhooks.UniqueEndpoint("dead");
        await using var host = await RegistryHost.StartAsync(null, Webhooks.Endpoint(0, endpoint, receiver.Url, ("FailureThreshold", "2"), ("InitialBackoff", "00:00:00.05"), ("MaxBackoff", "00:10:00")));
        var name = "dead" + Guid.NewGuid().ToString("N")[..8] + "/app";

        // One event: no later one brings an attempt forward.
        List<string> expected = [await host.Client.PushBlobAsync(name, Oci.RandomBytes(512))];
        await Webhooks.QueueHoldsAsync(host, endpoint, name, s => s.Failing, "the endpoint is failing");

        // Probes go on every few seconds; the deliveries stay at the two that failed.
        await Poll.UntilAsync(() => Task.FromResult(receiver.Probes >= 2), "the dead endpoint has been probed twice");
        Assert.Equal(2, receiver.Attempts);

        Volatile.Write(ref down, false);
        var clock = Stopwatch.StartNew();
        await receiver.WaitForAsync(events => events.Count >= expected.Count, "every event arrives", within: TimeSpan.FromSeconds(45));
        Assert.Equal(expected, receiver.Delivered.Select(e => e.Digest!).ToList());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"delivered {clock.Elapsed} after the endpoint came back");
        Assert.Equal(3, receiver.Attempts);
        output.WriteLine($"delivered {clock.Elapsed.TotalSeconds:F1} s after the endpoint answered; {receiver.Probes} probes, {receiver.Attempts} POSTs");
    }

    /// <summary>Pushes an image while nothing listens on the endpoint's port, stops the host once the events are stored and refused.</summary>
    private static async Task<(string Endpoint, int Port, string[] Settings, string Name, List<string> Expected)> QueueWhileRefusedAsync(string data, string prefix)
    {
        var port = Azurite.FreePort();
        var endpoint = Webhooks.UniqueEndpoint(prefix);
        var settings = Webhooks.Endpoint(0, endpoint, $"http://127.0.0.1:{port}/hook", ("InitialBackoff", "00:00:00.1"), ("MaxBackoff", "00:00:01"));
        var name = prefix + Guid.NewGuid().ToString("N")[..8] + "/app";
        await using var host = await RegistryHost.StartAsync(data, settings);
        Assert.True(WebhookReceiver.IsRefused(port), "nothing listens on the receiver's port yet");
        var expected = await Webhooks.PushImageAsync(host.Client, name, "v1", layers: 2);
        await Webhooks.QueueHoldsAsync(host, endpoint, name, s => s.Pending == expected.Count && s.ConsecutiveFailures > 0, "the events are stored and the endpoint refused them");
        return (endpoint, port, settings, name, expected);
    }
}
