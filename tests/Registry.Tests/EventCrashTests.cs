using System.Net;
using System.Text.Json;
using Registry.FaultHost;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>
/// The outbox: a process killed between the durable write of a change and the publish of its
/// event, or after the publish but before the consumers stored the event (memory streams lose what
/// they hold), loses nothing and invents nothing. The event goes out when the repository is next
/// activated, and consumers see it exactly once.
/// </summary>
[Trait("Category", TestCategories.Process)]
public sealed class EventCrashTests
{
    [Fact]
    public async Task AnEventKilledBetweenTheStateWriteAndThePublishIsPublishedOnceAfterRestart()
    {
        using var data = new TempDirectory();
        var audit = Path.Combine(data.Path, "audit.log");
        var ns = "crash" + Guid.NewGuid().ToString("N")[..8];
        var name = $"{ns}/app";
        var config = Oci.Json(new { architecture = "amd64", os = "linux", n = Guid.NewGuid().ToString("N") });
        var layer = Oci.RandomBytes(4096);
        var manifest = Oci.ImageManifest(config, [layer]);
        var digest = Oci.Digest(manifest);

        // The blobs go in first, without the failpoint (any change would trip it). Memory streams
        // hold published events in this process until they are delivered: wait for that.
        await using (var first = await EmbeddedProcess.StartAsync(data.Path, audit))
        {
            await using var blobs = await WatchStream.OpenAsync(first.Client, $"namespace={ns}&since=0");
            await first.Client.PushBlobAsync(name, config);
            await first.Client.PushBlobAsync(name, layer);
            await blobs.ReadUntilAsync(e => e.Sequence == 2);
            await Poll.UntilAsync(async () => (await AuditFile.ReadAsync(audit)).Count == 2, "the audit log has both blob pushes");
        }

        // The manifest PUT: its change is written, then the process dies before publishing.
        await using (var crashing = await EmbeddedProcess.StartCrashingAsync(data.Path, audit, CrashingFaults.StateWritePoint))
        {
            await Assert.ThrowsAsync<HttpRequestException>(async () =>
            {
                using var response = await crashing.Client.PutManifestAsync(name, "v1", manifest);
            });
            await Poll.UntilAsync(() => Task.FromResult(crashing.HasExited), "the process has died");
            Assert.Contains("REGISTRY_FAILPOINT after-state-write", crashing.Output, StringComparison.Ordinal);
        }

        await using var restarted = await EmbeddedProcess.StartAsync(data.Path, audit);
        await using var watch = await WatchStream.OpenAsync(restarted.Client, $"namespace={ns}&since=0");

        // Touching the repository activates its grain, which publishes what the crash held back.
        using (var tags = await restarted.Client.GetAsync($"/v2/{name}/tags/list"))
        {
            Assert.Equal(HttpStatusCode.OK, tags.StatusCode);
            using var json = JsonDocument.Parse(await tags.Content.ReadAsStringAsync());
            Assert.Equal(["v1"], json.RootElement.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
        }

        var logged = await watch.ReadUntilAsync(e => e.Tag == "v1");
        Assert.Equal([Oci.Digest(config), Oci.Digest(layer), digest], logged.Select(e => e.Digest));
        Assert.Equal([1L, 2L, 3L], logged.Select(e => e.Sequence));

        // The write was durable: the manifest is served.
        Assert.Equal(manifest, await restarted.Client.GetByteArrayAsync($"/v2/{name}/manifests/v1"));

        // Exactly once: the next change follows it directly, with no second copy in between.
        var (next, _) = await restarted.Client.PushImageAsync(name, "v2", layers: 1);
        var after = await watch.ReadUntilAsync(e => e.Tag == "v2");
        Assert.Equal(3, after.Count);
        Assert.Equal([4L, 5L, 6L], after.Select(e => e.Sequence));
        Assert.Equal(next, after[^1].Digest);

        await AssertAuditedOnceEachAsync(audit, digest);
    }

    [Fact]
    public async Task AnEventKilledAfterThePublishBeforeItsConsumersStoredItIsDeliveredOnceAfterRestart()
    {
        using var data = new TempDirectory();
        var audit = Path.Combine(data.Path, "audit.log");
        await using var receiver = await WebhookReceiver.StartAsync();
        (string, string)[] hooks =
        [
            ("Registry__Webhooks__Endpoints__0__Name", Webhooks.UniqueEndpoint("crash")),
            ("Registry__Webhooks__Endpoints__0__Url", receiver.Url),
            ("Registry__Webhooks__Endpoints__0__InitialBackoff", "00:00:00.1"),
        ];
        var ns = "crash" + Guid.NewGuid().ToString("N")[..8];
        var name = $"{ns}/app";
        var config = Oci.Json(new { architecture = "amd64", os = "linux", n = Guid.NewGuid().ToString("N") });
        var layer = Oci.RandomBytes(4096);
        var manifest = Oci.ImageManifest(config, [layer]);
        var digest = Oci.Digest(manifest);

        // The blobs go in first, without the failpoint, and reach every consumer.
        await using (var first = await EmbeddedProcess.StartAsync(data.Path, audit, hooks))
        {
            await using var blobs = await WatchStream.OpenAsync(first.Client, $"namespace={ns}&since=0");
            await first.Client.PushBlobAsync(name, config);
            await first.Client.PushBlobAsync(name, layer);
            await blobs.ReadUntilAsync(e => e.Sequence == 2);
            await receiver.WaitForAsync(events => events.Count(e => e.Repository == name) == 2, "the webhook has both blob pushes");
            await Poll.UntilAsync(async () => (await AuditFile.ReadAsync(audit)).Count == 2, "the audit log has both blob pushes");
        }

        // The manifest PUT: its change is written and its event handed to the memory streams; the
        // outbox is written once more (as the next change would write it), and the process dies
        // before the stream's consumers could store the event.
        await using (var crashing = await EmbeddedProcess.StartCrashingAsync(data.Path, audit, CrashingFaults.PublishPoint, hooks))
        {
            await Assert.ThrowsAsync<HttpRequestException>(async () =>
            {
                using var response = await crashing.Client.PutManifestAsync(name, "v1", manifest);
            });
            await Poll.UntilAsync(() => Task.FromResult(crashing.HasExited), "the process has died");
            Assert.Contains("REGISTRY_FAILPOINT after-publish", crashing.Output, StringComparison.Ordinal);
        }

        await using var restarted = await EmbeddedProcess.StartAsync(data.Path, audit, hooks);
        await using var watch = await WatchStream.OpenAsync(restarted.Client, $"namespace={ns}&since=0");

        // Touching the repository activates its grain, which publishes what is still in its outbox.
        using (var tags = await restarted.Client.GetAsync($"/v2/{name}/tags/list"))
        {
            Assert.Equal(HttpStatusCode.OK, tags.StatusCode);
        }

        var logged = await watch.ReadUntilAsync(e => e.Tag == "v1");
        Assert.Equal([Oci.Digest(config), Oci.Digest(layer), digest], logged.Select(e => e.Digest));
        Assert.Equal([1L, 2L, 3L], logged.Select(e => e.Sequence));
        await receiver.WaitForAsync(events => events.Any(e => e.Tag == "v1"), "the webhook has the manifest push");

        // Exactly once: the next change follows it directly everywhere, with no second copy in between.
        var (next, _) = await restarted.Client.PushImageAsync(name, "v2", layers: 1);
        var after = await watch.ReadUntilAsync(e => e.Tag == "v2");
        Assert.Equal([4L, 5L, 6L], after.Select(e => e.Sequence));
        Assert.Equal(next, after[^1].Digest);

        await receiver.WaitForAsync(events => events.Any(e => e.Tag == "v2"), "the webhook has the second push");
        var delivered = receiver.Delivered.Where(e => e.Repository == name).ToList();
        Assert.Equal(6, delivered.Count);
        Assert.Equal(6, delivered.Select(e => e.Id).Distinct().Count());
        Assert.Equal([Oci.Digest(config), Oci.Digest(layer), digest], delivered.Take(3).Select(e => e.Digest));
        Assert.Equal(next, delivered[^1].Digest);
        Assert.Equal(logged[^1].EventId, delivered[2].Id);

        await AssertAuditedOnceEachAsync(audit, digest);
    }

    [Fact]
    public async Task AcknowledgedPushesKilledBeforeDeliveryReachEveryConsumerAfterARestartWithoutARequest()
    {
        using var data = new TempDirectory();
        var audit = Path.Combine(data.Path, "audit.log");
        await using var receiver = await WebhookReceiver.StartAsync();
        (string, string)[] hooks =
        [
            ("Registry__Webhooks__Endpoints__0__Name", Webhooks.UniqueEndpoint("killed")),
            ("Registry__Webhooks__Endpoints__0__Url", receiver.Url),
        ];
        var ns = "killed" + Guid.NewGuid().ToString("N")[..8];
        string[] repositories = [$"{ns}/a", $"{ns}/b", $"{ns}-other/c"];
        var expected = new Dictionary<string, List<string>>(StringComparer.Ordinal);

        // Every push is acknowledged (201) and its events are kept from the streams, as when the
        // process dies before the consumers stored them; then the process is killed.
        await using (var held = await EmbeddedProcess.StartCrashingAsync(data.Path, audit, CrashingFaults.HoldEvents, hooks))
        {
            foreach (var repository in repositories)
            {
                expected[repository] = await Webhooks.PushImageAsync(held.Client, repository, "v1", layers: 2);
            }

            Assert.Empty(receiver.Posts);
            Assert.Empty(await AuditFile.ReadAsync(audit));
            held.KillHard();
        }

        // No request for any repository after the restart: the silo's start wakes the recorded ones
        // (well before the maintenance grain's first tick, a minute after the start, which retries a failed wake).
        var total = expected.Values.Sum(d => d.Count);
        await using var restarted = await EmbeddedProcess.StartAsync(data.Path, audit, hooks);
        await receiver.WaitForAsync(events => events.Count >= total, $"the webhook has all {total} events", within: TimeSpan.FromSeconds(40));
        await Poll.UntilAsync(async () => (await AuditFile.ReadAsync(audit)).Count >= total, $"the audit log has all {total} events");

        var delivered = receiver.Delivered;
        Assert.Equal(total, delivered.Count);
        Assert.Equal(total, delivered.Select(e => e.Id).Distinct().Count());
        var lines = await AuditFile.ReadAsync(audit);
        Assert.Equal(total, lines.Count);
        foreach (var repository in repositories)
        {
            Assert.Equal(expected[repository], delivered.Where(e => e.Repository == repository).Select(e => e.Digest!).ToList());
            Assert.Equal(expected[repository], lines.Where(l => l.Str("repository") == repository).Select(l => l.Str("digest")!).ToList());
        }

        // The namespace's event log (watch) has them too, in order per repository.
        await using var watch = await WatchStream.OpenAsync(restarted.Client, $"namespace={ns}&since=0");
        string[] inNamespace = [$"{ns}/a", $"{ns}/b"];
        var logged = await watch.ReadUntilAsync(e => e.Sequence == inNamespace.Sum(r => expected[r].Count));
        foreach (var repository in inNamespace)
        {
            Assert.Equal(expected[repository], logged.Where(e => e.Repository == repository).Select(e => e.Digest!).ToList());
        }
    }

    /// <summary>After the crash and a second push: six audit lines, each event once, the crashed push among them once.</summary>
    private static async Task AssertAuditedOnceEachAsync(string audit, string crashedDigest)
    {
        await Poll.UntilAsync(async () => (await AuditFile.ReadAsync(audit)).Any(l => l.Str("tag") == "v2"), "the audit log has the second push");
        var lines = await AuditFile.ReadAsync(audit);
        Assert.Single(lines, l => l.Str("digest") == crashedDigest && l.Str("action") == "push");
        Assert.Equal(6, lines.Count);
        Assert.Equal(lines.Count, lines.Select(l => l.Str("id")).Distinct().Count());
    }

    [Fact]
    public async Task PublishedEventsLeaveTheOutboxOnceEveryConsumerHasStoredThem()
    {
        using var data = new TempDirectory();
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var host = await RegistryHost.StartAsync(
            data.Path,
            [.. Webhooks.Endpoint(0, Webhooks.UniqueEndpoint("outbox"), receiver.Url), $"--Registry:Audit:Path={Path.Combine(data.Path, "audit.log")}"]);
        var name = SharedRegistry.UniqueName("outbox");
        var digests = await Webhooks.PushImageAsync(host.Client, name, "v1", layers: 2);

        // Embedded mode: the events wait in the outbox until the event log, the webhook fanout and
        // the audit log's dispatcher have acknowledged them, then leave it.
        var repository = host.Service<IGrainFactory>().GetGrain<IRepositoryGrain>(name);
        await Poll.UntilAsync(async () => await repository.GetOutboxLength() == 0, "every consumer acknowledged the events");
        await receiver.WaitForAsync(events => events.Count(e => e.Repository == name) == digests.Count, "the webhook has every event");
        Assert.Equal(digests, receiver.Delivered.Where(e => e.Repository == name).Select(e => e.Digest!).ToList());
    }
}

/// <summary>An embedded-mode registry as its own OS process, on a data directory of the test's choosing.</summary>
public static class EmbeddedProcess
{
    public static Task<RegistryProcess> StartAsync(string dataDirectory, string? auditPath, params (string Key, string Value)[] settings)
        => Start("Registry.Api.dll", dataDirectory, auditPath, settings);

    /// <summary>Like <see cref="StartAsync"/>, through <paramref name="launcher"/> (see <see cref="RegistryProcess.StartHostAsync"/>).</summary>
    public static Task<RegistryProcess> StartThroughAsync(IReadOnlyList<string> launcher, string dataDirectory, params (string Key, string Value)[] settings)
        => Start("Registry.Api.dll", dataDirectory, auditPath: null, settings, launcher);

    /// <summary>
    /// The registry in the fault host (<c>tests/Registry.FaultHost</c>), which ends the process at
    /// <paramref name="point"/> of the first repository change (<see cref="CrashingFaults"/>).
    /// </summary>
    public static Task<RegistryProcess> StartCrashingAsync(string dataDirectory, string? auditPath, string point, params (string Key, string Value)[] settings)
        => Start("Registry.FaultHost.dll", dataDirectory, auditPath, [.. settings, (CrashingFaults.Variable, point)]);

    /// <summary>Another host built on the registry library, from the test's output folder (e.g. the subscriber sample).</summary>
    public static Task<RegistryProcess> StartHostAsync(string assembly, string dataDirectory, params (string Key, string Value)[] settings)
        => Start(assembly, dataDirectory, null, settings);

    private static Task<RegistryProcess> Start(string assembly, string dataDirectory, string? auditPath, (string Key, string Value)[] settings, IReadOnlyList<string>? launcher = null)
        => RegistryProcess.StartHostAsync(
            assembly,
            connectionString: "",
            clusterId: "embedded",
            httpPort: null,
            siloPort: null,
            settings:
            [
                ("Registry__Mode", "Embedded"),
                ("Registry__DataDirectory", Path.Combine(dataDirectory, "registry")),
                ("Registry__Audit__Path", auditPath ?? ""),
                ("DOTNET_DbgEnableMiniDump", "0"),
                .. settings,
            ],
            launcher);
}
