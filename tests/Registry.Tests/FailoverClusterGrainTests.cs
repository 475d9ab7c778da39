using Orleans.Runtime;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>
/// The call ids that make a change retried after a failover apply once, on a real silo (TestingHost,
/// the registry's cluster composition, Azurite) and read back from storage. The kill of a real
/// replica is in <see cref="FailoverTests"/>: a TestingHost silo "killed" in this process was taken
/// over within a second in a trial, before a call to it could fail, so it cannot stand for a crash.
/// </summary>
[Trait("Category", TestCategories.Azurite)]
public sealed class FailoverClusterGrainTests(AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    [Fact]
    public async Task AChangeSentAgainWithItsCallIdIsAppliedOnce()
    {
        await using var cluster = await AzureTestCluster.StartAsync(azurite.ConnectionString, AzuriteFixture.UniqueName("fo"), silos: 1);

        // The external client passes no filter: it sends the call ids a retrying silo would send.
        var repository = cluster.Client.GetGrain<IRepositoryGrain>(SharedRegistry.UniqueName("fo"));
        var blob = Oci.Digest(Oci.RandomBytes(64));
        await repository.LinkBlob(blob, 64);
        var first = GrainFacts.Manifest();
        var second = GrainFacts.Manifest();

        var results = new List<ManifestPushResult>();
        foreach (var (manifest, callId) in new[] { (first, "call-1"), (first, "call-1"), (second, "call-2"), (first, "call-3") })
        {
            RequestContext.Set(FailoverCall.ContextKey, callId);
            results.Add(await repository.PutManifest(new ManifestPush(manifest, [blob], [], "latest")));
        }

        // call-1 twice is one write; the same manifest under a new id (call-3) is a new write.
        var history = await repository.GetTagHistory("latest");
        Assert.Equal([first.Digest, second.Digest, first.Digest], history.Select(h => h.Digest));
        Assert.All(results, r => Assert.Equal(ManifestPushOutcome.Accepted, r.Outcome));
        Assert.Equal(results[0].Generation, results[1].Generation);

        RequestContext.Set(FailoverCall.ContextKey, "call-4");
        Assert.True(await repository.DeleteTag("latest"));
        Assert.True(await repository.DeleteTag("latest"), "a retried delete is answered as its first attempt was");
        RequestContext.Set(FailoverCall.ContextKey, "call-5");
        Assert.False(await repository.DeleteTag("latest"), "a new delete of a deleted tag finds nothing");
        RequestContext.Clear();

        // The state read back by a fresh activation agrees: the ids were stored with the changes.
        await cluster.Cluster.DeactivateAsync(repository).WithinAsync();
        Assert.Null(await repository.ResolveTag("latest"));
        Assert.Empty(await repository.GetTagHistory("latest"));
        RequestContext.Set(FailoverCall.ContextKey, "call-2");
        Assert.Equal(ManifestPushOutcome.Accepted, (await repository.PutManifest(new ManifestPush(second, [blob], [], "latest"))).Outcome);
        RequestContext.Clear();
        Assert.Null(await repository.ResolveTag("latest"));
    }
}
