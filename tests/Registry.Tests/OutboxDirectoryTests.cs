using Orleans;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>
/// The outbox directory records a repository while its stored outbox may hold events, and lets it
/// go once the activation ends with an empty outbox, so a silo's start wakes only those.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class OutboxDirectoryTests
{
    [Fact]
    public async Task ARepositoryIsRecordedWhileItsOutboxHoldsEventsAndLeavesWhenItDeactivatesEmpty()
    {
        using var data = new TempDirectory();
        await using var host = await RegistryHost.StartAsync(data.Path);
        var grains = host.Service<IGrainFactory>();
        var directory = grains.GetGrain<IOutboxDirectoryGrain>(0);
        var name = SharedRegistry.UniqueName("outboxdir");

        await host.Client.PushBlobAsync(name, Oci.RandomBytes(256));
        Assert.Contains(name, await directory.List());

        // Every consumer acknowledged: the outbox empties; the record stays while the activation lives.
        var repository = grains.GetGrain<IRepositoryGrain>(name);
        await Poll.UntilAsync(async () => await repository.GetOutboxLength() == 0, "every consumer acknowledged the event");
        Assert.Contains(name, await directory.List());

        // The activation ends with an empty stored outbox: the record goes with it.
        await grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        await Poll.UntilAsync(async () => !(await directory.List()).Contains(name), "the record is removed");

        // A later change records it again.
        await host.Client.PushBlobAsync(name, Oci.RandomBytes(256));
        Assert.Contains(name, await directory.List());
    }
}
