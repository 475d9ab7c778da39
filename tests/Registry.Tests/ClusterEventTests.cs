namespace Registry.Tests;

/// <summary>Events cross replicas: subscribers and watches on one process see changes made through another.</summary>
[Trait("Category", TestCategories.Process)]
[Trait("Category", TestCategories.Azurite)]
public sealed class ClusterEventTests
{
    [Fact]
    public async Task ASubscriberAndAWatchOnOneReplicaSeePushesMadeThroughAnother()
    {
        await using var azurite = await Azurite.StartAsync();
        using var data = new TempDirectory();
        var audit = Path.Combine(data.Path, "audit-b.log");
        var cluster = "c" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await RegistryProcess.StartAsync(azurite.ConnectionString, cluster);
        await using var b = await RegistryProcess.StartAsync(azurite.ConnectionString, cluster, settings: ("Registry__Audit__Path", audit));
        await using var c = await RegistryProcess.StartAsync(azurite.ConnectionString, cluster);

        var ns = "x" + Guid.NewGuid().ToString("N")[..12];
        await using var watchB = await WatchStream.OpenAsync(b.Client, $"namespace={ns}");
        await using var watchC = await WatchStream.OpenAsync(c.Client, $"namespace={ns}&repository=app");

        var (digest, _) = await a.Client.PushImageAsync($"{ns}/app", "v1", layers: 1);
        var onB = await watchB.ReadUntilAsync(e => e.Tag == "v1");
        var onC = await watchC.ReadUntilAsync(e => e.Tag == "v1");
        Assert.Equal(digest, onB[^1].Digest);

        // One log per namespace for the whole cluster: the same events under the same ids everywhere.
        Assert.Equal(onB.Select(e => (e.Id, e.EventId)), onC.Select(e => (e.Id, e.EventId)));
        Assert.Equal([1L, 2L, 3L], onB.Select(e => e.Sequence));

        await Poll.UntilAsync(async () => (await AuditFile.ReadAsync(audit)).Any(l => l.Str("digest") == digest), "B's audit log has the push made through A");

        // And through the third replica, once each.
        var (other, _) = await c.Client.PushImageAsync($"{ns}/app", "v2", layers: 1);
        Assert.Equal(other, (await watchB.ReadUntilAsync(e => e.Tag == "v2"))[^1].Digest);
        await Poll.UntilAsync(async () => (await AuditFile.ReadAsync(audit)).Any(l => l.Str("digest") == other), "B's audit log has the push made through C");
        var lines = await AuditFile.ReadAsync(audit);
        Assert.Equal(lines.Count, lines.Select(l => l.Str("id")).Distinct().Count());
        Assert.Equal(2, lines.Count(l => l.Str("tag") is "v1" or "v2"));
    }
}
