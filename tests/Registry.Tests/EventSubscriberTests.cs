using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Registry.Api;
using Registry.Api.Events;
using Registry.Api.Extensions;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>In-process subscribers: the audit log, a test subscriber, dedupe by event id.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class EventSubscriberTests
{
    [Fact]
    public async Task TheAuditLogRecordsWhoPushedAndDeletedWhat()
    {
        using var data = new TempDirectory();
        var path = Path.Combine(data.Path, "audit", "audit.log");
        await using var host = await RegistryHost.StartAsync(Path.Combine(data.Path, "registry"), $"--Registry:Audit:Path={path}");
        using var client = new HttpClient { BaseAddress = host.BaseAddress, Timeout = Bounded.Timeout };
        client.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("audit-test", "1.0"));

        var name = SharedRegistry.UniqueName("audit");
        var (digest, _) = await client.PushImageAsync(name, "v1", layers: 1);
        await Poll.UntilAsync(async () => (await AuditFile.ReadAsync(path)).Any(l => l.Str("tag") == "v1"), "the manifest push is audited");

        using (var delete = await client.DeleteAsync($"/v2/{name}/manifests/v1"))
        {
            Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        }

        using (var delete = await client.DeleteAsync($"/v2/{name}/manifests/{digest}"))
        {
            Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        }

        await Poll.UntilAsync(async () => (await AuditFile.ReadAsync(path)).Count(l => l.Str("action") == "delete") == 2, "both deletes are audited");
        var lines = await AuditFile.ReadAsync(path);

        // Config and layer, the manifest, the tag delete, the manifest delete: in order, each once.
        Assert.Equal(["push", "push", "push", "delete", "delete"], lines.Select(l => l.Str("action")));
        Assert.Equal(lines.Count, lines.Select(l => l.Str("id")).Distinct().Count());
        Assert.All(lines, l => Assert.Equal(name, l.Str("repository")));
        Assert.All(lines, l => Assert.Equal("audit-test/1.0", l.Str("userAgent")));
        Assert.All(lines, l => Assert.StartsWith("127.0.0.1:", l.Str("addr"), StringComparison.Ordinal));
        Assert.All(lines, l => Assert.True(DateTimeOffset.TryParse(l.Str("time"), System.Globalization.CultureInfo.InvariantCulture, out _)));

        var push = lines[2];
        Assert.Equal(digest, push.Str("digest"));
        Assert.Equal("v1", push.Str("tag"));
        Assert.Equal(Oci.ManifestType, push.Str("mediaType"));

        var untag = lines[3];
        Assert.Equal(digest, untag.Str("digest"));
        Assert.Equal("v1", untag.Str("tag"));

        var remove = lines[4];
        Assert.Equal(digest, remove.Str("digest"));
        Assert.Null(remove.Str("tag"));
    }

    [Fact]
    public async Task ASubscriberGetsEveryChangeOnceEvenWhenTheSameEventIsPublishedTwice()
    {
        var recorder = new RecordingSubscriber();
        await using var host = await RegistryHost.StartAsync(null, b => b.Services.AddRegistryEventSubscriber(recorder));

        // A real change reaches the subscriber with who made it.
        using var client = new HttpClient { BaseAddress = host.BaseAddress, Timeout = Bounded.Timeout };
        client.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("subscriber-test", "2.0"));
        var ns = "d" + Guid.NewGuid().ToString("N")[..12];
        await using var watch = await WatchStream.OpenAsync(host.Client, $"namespace={ns}");
        var (digest, _) = await client.PushImageAsync($"{ns}/app", "v1", layers: 1);
        var pushed = await recorder.WaitForAsync(e => e.Target.Tag == "v1");
        Assert.Equal(digest, pushed.Target.Digest);
        Assert.Equal("subscriber-test/2.0", pushed.Request.UserAgent);
        Assert.Equal(RegistryEvent.Push, pushed.Action);

        // The same event delivered twice (what a crash after publishing causes) reaches it once,
        // and reaches a watch once.
        var twice = Synthetic($"{ns}/app", "twice");
        var sentinel = Synthetic($"{ns}/app", "sentinel");
        var provider = host.Services.GetRequiredService<IClusterClient>().GetStreamProvider(RegistryStreams.Provider);
        var all = provider.GetStream<RegistryEvent>(RegistryStreams.All);
        var inNamespace = provider.GetStream<RegistryEvent>(RegistryStreams.OfNamespace(ns));
        foreach (var e in new[] { twice, twice, sentinel })
        {
            await all.OnNextAsync(e);
            await inNamespace.OnNextAsync(e);
        }

        await recorder.WaitForAsync(e => e.Id == sentinel.Id);
        Assert.Single(recorder.Events, e => e.Id == twice.Id);
        Assert.Equal(recorder.Events.Count, recorder.Events.Select(e => e.Id).Distinct().Count());

        var watched = await watch.ReadUntilAsync(e => e.Tag == "sentinel");
        Assert.Equal([null, null, "v1", "twice", "sentinel"], watched.Select(e => e.Tag));
        Assert.Equal([1L, 2L, 3L, 4L, 5L], watched.Select(e => e.Sequence));
    }

    [Fact]
    public async Task TheAuditLogSkipsIdsItAlreadyHolds()
    {
        using var data = new TempDirectory();
        var path = Path.Combine(data.Path, "audit.log");
        var subscriber = new AuditLogSubscriber(Microsoft.Extensions.Options.Options.Create(new AuditOptions { Path = path }), Microsoft.Extensions.Logging.Abstractions.NullLogger<AuditLogSubscriber>.Instance);
        var e = Synthetic("team/app", "v1");
        await subscriber.OnEventAsync(e, CancellationToken.None);
        await subscriber.OnEventAsync(e, CancellationToken.None);
        Assert.Single(await AuditFile.ReadAsync(path));

        // A new process (a restart) knows the ids of the file's tail, and a line cut by a crash
        // does not swallow the next record.
        await File.AppendAllTextAsync(path, "{\"time\":\"2024-01-01T00:00:00Z\",\"action\":\"pu");
        var restarted = new AuditLogSubscriber(Microsoft.Extensions.Options.Options.Create(new AuditOptions { Path = path }), Microsoft.Extensions.Logging.Abstractions.NullLogger<AuditLogSubscriber>.Instance);
        await restarted.OnEventAsync(e, CancellationToken.None);
        var next = Synthetic("team/app", "v2");
        await restarted.OnEventAsync(next, CancellationToken.None);
        var lines = await AuditFile.ReadAsync(path);
        Assert.Equal([e.Id, next.Id], lines.Select(l => l.Str("id")));
    }

    internal static RegistryEvent Synthetic(string repository, string tag) => new(
        Guid.NewGuid().ToString("N"),
        DateTimeOffset.UtcNow,
        RegistryEvent.Push,
        new EventTarget(Oci.ManifestType, Oci.Digest(Oci.RandomBytes(16)), 100, repository, null, null, tag),
        new EventRequest("req", "127.0.0.1:1", "localhost", "PUT", "synthetic"),
        null,
        new EventSourceReplica("127.0.0.1:0", "test"),
        1);
}

/// <summary>Records every event it is given.</summary>
public sealed class RecordingSubscriber : IRegistryEventSubscriber
{
    private readonly ConcurrentQueue<RegistryEvent> _events = new();

    public IReadOnlyList<RegistryEvent> Events => _events.ToArray();

    public Task OnEventAsync(RegistryEvent e, CancellationToken ct)
    {
        _events.Enqueue(e);
        return Task.CompletedTask;
    }

    public async Task<RegistryEvent> WaitForAsync(Func<RegistryEvent, bool> match)
    {
        RegistryEvent? found = null;
        await Poll.UntilAsync(() => Task.FromResult((found = _events.FirstOrDefault(match)) is not null), "the subscriber receives the event");
        return found!;
    }
}
