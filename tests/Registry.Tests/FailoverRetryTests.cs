using System.Diagnostics;
using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime.Messaging;
using Registry.Grains;
using Registry.Silo;
using Registry.Silo.Failover;

namespace Registry.Tests;

/// <summary>
/// What the failover retry filter decides (which methods, which failures, how long), on the
/// filter a real embedded registry composed; the kill of a real replica is in <see cref="FailoverTests"/>.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class FailoverRetryTests
{
    /// <summary>Every method of the grains the API calls, and whether a silo failure may send it again (with a call id).</summary>
    public static TheoryData<Type, string, string> Methods() => new()
    {
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.PutManifest), "call id" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.CheckManifest), "retry" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.ResolveTag), "retry" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.GetManifest), "retry" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.ListTags), "retry" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.GetTagHistory), "retry" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.DeleteTag), "call id" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.DeleteManifest), "call id" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.LinkBlob), "retry" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.MountBlob), "retry" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.GetBlobSize), "retry" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.GetReferences), "retry" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.UnlinkBlob), "call id" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.GetReferrers), "retry" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.GetOutboxLength), "retry" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.GetImageStream), "retry" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.ListManifests), "retry" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.TagManifest), "call id" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.DeleteImageStream), "call id" },

        // Immutable tags: a retry of an applied delete skips the check its first attempt passed.
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.DeleteTagGuarded), "call id" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.DeleteManifestGuarded), "call id" },

        // One-way: nobody waits for an answer to retry on.
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.EventsPersisted), "never" },
        { typeof(IUploadSessionGrain), nameof(IUploadSessionGrain.Start), "retry" },
        { typeof(IUploadSessionGrain), nameof(IUploadSessionGrain.GetStatus), "retry" },
        { typeof(IUploadSessionGrain), nameof(IUploadSessionGrain.BeginChunk), "retry" },
        { typeof(IUploadSessionGrain), nameof(IUploadSessionGrain.EndChunk), "retry" },
        { typeof(IUploadSessionGrain), nameof(IUploadSessionGrain.AbortChunk), "retry" },
        { typeof(IUploadSessionGrain), nameof(IUploadSessionGrain.Finish), "retry" },

        // A retry after an applied cancel would answer 404 to a DELETE that succeeded.
        { typeof(IUploadSessionGrain), nameof(IUploadSessionGrain.Cancel), "never" },
        { typeof(IUploadSessionGrain), nameof(IUploadSessionGrain.ExpireIfStartedBefore), "retry" },
        { typeof(ICatalogShardGrain), nameof(ICatalogShardGrain.Add), "retry" },
        { typeof(ICatalogShardGrain), nameof(ICatalogShardGrain.AddMany), "retry" },
        { typeof(ICatalogShardGrain), nameof(ICatalogShardGrain.List), "retry" },
        { typeof(ICatalogIndexGrain), nameof(ICatalogIndexGrain.AddShard), "retry" },
        { typeof(ICatalogIndexGrain), nameof(ICatalogIndexGrain.Shards), "retry" },

        // One-way: the wake-up at start is repeated by the maintenance tick when it is lost.
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.WakeOutbox), "never" },

        // A set add on the path of a repository's first write of an activation.
        { typeof(IOutboxDirectoryGrain), nameof(IOutboxDirectoryGrain.Add), "retry" },

        // Harmless when it fails (the next wake removes the record); a retry would hold up a deactivation.
        { typeof(IOutboxDirectoryGrain), nameof(IOutboxDirectoryGrain.Remove), "never" },

        // The maintenance tick calls it again.
        { typeof(IOutboxDirectoryGrain), nameof(IOutboxDirectoryGrain.Wake), "never" },
        { typeof(IOutboxDirectoryGrain), nameof(IOutboxDirectoryGrain.List), "retry" },
        { typeof(INamespaceEventLogGrain), nameof(INamespaceEventLogGrain.ReadAfter), "retry" },
        { typeof(INamespaceEventLogGrain), nameof(INamespaceEventLogGrain.GetLastSequence), "retry" },

        // A long poll: the watch that waits reconnects and reads again (ReadAfter).
        { typeof(INamespaceEventLogGrain), nameof(INamespaceEventLogGrain.WaitAfter), "never" },

        // Garbage collection additions: an empty repository's unlisting and the catalog's remove repeat harmlessly.
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.RemoveIfEmpty), "retry" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.Prune), "retry" },
        { typeof(ICatalogShardGrain), nameof(ICatalogShardGrain.Remove), "retry" },

        // Namespace quotas: set adds and removes, reads and a recount.
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.GetHeldDigests), "retry" },
        { typeof(INamespaceUsageGrain), nameof(INamespaceUsageGrain.Admit), "retry" },
        { typeof(INamespaceUsageGrain), nameof(INamespaceUsageGrain.Check), "retry" },
        { typeof(INamespaceUsageGrain), nameof(INamespaceUsageGrain.Release), "retry" },
        { typeof(INamespaceUsageGrain), nameof(INamespaceUsageGrain.ReleaseRepository), "retry" },
        { typeof(INamespaceUsageGrain), nameof(INamespaceUsageGrain.GetQuota), "retry" },
        { typeof(INamespaceUsageGrain), nameof(INamespaceUsageGrain.Recount), "retry" },

        // A retry of an applied change would find its own version and answer a conflict.
        { typeof(INamespaceUsageGrain), nameof(INamespaceUsageGrain.PutQuota), "never" },

        // Image stream spec changes and ImageStreamTag deletes move or remove tags: a retry is recognised by its call id.
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.ChangeImageStreamSpec), "call id" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.DeleteImageStreamTag), "call id" },

        // Retention: pull times keep the newest (a repeat changes nothing); a run decides again from the state it finds.
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.RecordPulls), "retry" },
        { typeof(IRepositoryGrain), nameof(IRepositoryGrain.ApplyRetention), "retry" },
    };

    [Theory]
    [MemberData(nameof(Methods))]
    public void OnlyReadsAndIdempotentChangesAreRetriedAndNonIdempotentOnesCarryACallId(Type grain, string method, string expected)
    {
        var mark = FailoverRetryFilter.MarkOf(grain.GetMethod(method)!);
        var actual = mark is null ? "never" : mark.WithCallId ? "call id" : "retry";
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void EveryMethodOfTheGrainsOnTheRequestAndWritePathsIsReviewed()
    {
        var reviewed = Methods().Select(row => ((Type)row[0], (string)row[1])).ToHashSet();
        var all = new[] { typeof(IRepositoryGrain), typeof(IUploadSessionGrain), typeof(ICatalogShardGrain), typeof(ICatalogIndexGrain), typeof(IOutboxDirectoryGrain), typeof(INamespaceEventLogGrain) }
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance).Select(m => (t, m.Name)));
        Assert.All(all, m => Assert.Contains(m, reviewed));
    }

    [Fact]
    public void OnlyFailuresOfAnUnreachableOrDeadSiloAreRetried()
    {
        Assert.True(FailoverRetryFilter.IsSiloFailure(new SiloUnavailableException("gone")));
        Assert.True(FailoverRetryFilter.IsSiloFailure(Rejection("Exception while sending message")));
        Assert.True(FailoverRetryFilter.IsSiloFailure(new ConnectionFailedException("Unable to connect")));

        // A timeout may be a live grain that is slow (and it comes after the budget); the rest are answers.
        Assert.False(FailoverRetryFilter.IsSiloFailure(new TimeoutException()));
        Assert.False(FailoverRetryFilter.IsSiloFailure(new InvalidOperationException()));
        Assert.False(FailoverRetryFilter.IsSiloFailure(new Orleans.Storage.InconsistentStateException("etag")));
    }

    [Fact]
    public void BackoffGrowsToASecondWithJitter()
    {
        for (var attempt = 1; attempt <= 20; attempt++)
        {
            var nominal = Math.Min(1000, 100 * (1 << Math.Min(attempt - 1, 4)));
            var delay = FailoverRetryFilter.Backoff(attempt).TotalMilliseconds;
            Assert.InRange(delay, nominal * 0.8, nominal * 1.2);
        }
    }

    [Fact]
    public async Task ASiloFailureIsRetriedUntilTheCallSucceeds()
    {
        await using var host = await RegistryHost.StartAsync(null, "--Registry:Cluster:FailoverRetryBudget=00:00:10");
        var attempts = 0;
        await FilterOf(host).RetryAsync(
            () => ++attempts < 3 ? throw Rejection("Exception while sending message: ConnectionFailedException") : Task.CompletedTask,
            "test",
            "succeeds-third");
        Assert.Equal(3, attempts);
    }

    /// <summary>
    /// A call whose first attempt ran on this silo and failed with a silo failure from inside (a call
    /// the grain made to a silo that died, as in the failover benchmark) is retried with the
    /// arguments it was sent with: the local attempt cleared its request's arguments.
    /// </summary>
    [Fact]
    public async Task ARetriedCallCarriesItsOriginalArguments()
    {
        var faults = new SiloFailureAfterWrites();
        await using var host = await RegistryHost.StartAsync(
            null,
            builder => builder.Services.AddSingleton<IRepositoryFaults>(faults),
            "--Registry:Cluster:FailoverRetryBudget=00:00:10");
        var repository = host.Service<IGrainFactory>().GetGrain<IRepositoryGrain>(SharedRegistry.UniqueName("fo-args"));
        var blob = Oci.Digest(Oci.RandomBytes(64));

        faults.FailNext(1);
        await repository.LinkBlob(blob, 64);
        Assert.Equal(1, faults.Failed);
        Assert.Equal(64, await repository.GetBlobSize(blob));

        var manifest = GrainFacts.Manifest();
        faults.FailNext(1);
        var pushed = await repository.PutManifest(new ManifestPush(manifest, [blob], [], "latest"));
        Assert.Equal(2, faults.Failed);
        Assert.Equal(ManifestPushOutcome.Accepted, pushed.Outcome);
        Assert.Equal(manifest.Digest, (await repository.ResolveTag("latest"))?.Digest);

        // The retry carried the first attempt's call id too: the push was applied once.
        Assert.Single(await repository.GetTagHistory("latest"));
    }

    [Fact]
    public async Task OtherFailuresAreThrownAtOnce()
    {
        await using var host = await RegistryHost.StartAsync(null, "--Registry:Cluster:FailoverRetryBudget=00:00:10");
        var attempts = 0;
        await Assert.ThrowsAsync<TimeoutException>(() => FilterOf(host).RetryAsync(() => { attempts++; throw new TimeoutException(); }, "test", "times-out"));
        Assert.Equal(1, attempts);
    }

    [Fact]
    public async Task TheLastSiloFailureIsThrownOnceTheBudgetIsSpent()
    {
        await using var host = await RegistryHost.StartAsync(null, "--Registry:Cluster:FailoverRetryBudget=00:00:01");
        var attempts = 0;
        var clock = Stopwatch.StartNew();
        await Assert.ThrowsAsync<SiloUnavailableException>(() => FilterOf(host).RetryAsync(() => { attempts++; throw new SiloUnavailableException("dead"); }, "test", "never-succeeds"));

        // 100 + 200 + 400 ms (± 20 %) fit in 1 s, the next 800 ms would not: about 4 attempts, never past the budget by a delay.
        Assert.InRange(attempts, 3, 5);
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(5));
    }

    [Theory]
    [InlineData("-00:00:01")]
    [InlineData("00:01:01")]
    public void ARetryBudgetOutOfRangeIsRefusedWithTheSettingsName(string budget)
    {
        var options = new RegistryOptions { Cluster = { FailoverRetryBudget = TimeSpan.Parse(budget, System.Globalization.CultureInfo.InvariantCulture) } };
        var result = new RegistryOptionsValidator().Validate(null, options);
        Assert.True(result.Failed);
        Assert.Contains("Registry:Cluster:FailoverRetryBudget", result.FailureMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("00:00:00.1", 3, "Registry:Cluster:ProbeTimeout")]
    [InlineData("00:00:02", 0, "Registry:Cluster:MissedProbesLimit")]
    public void MembershipSettingsOutOfRangeAreRefused(string probeTimeout, int missed, string setting)
    {
        var options = new RegistryOptions { Cluster = { ProbeTimeout = TimeSpan.Parse(probeTimeout, System.Globalization.CultureInfo.InvariantCulture), MissedProbesLimit = missed } };
        var result = new RegistryOptionsValidator().Validate(null, options);
        Assert.True(result.Failed);
        Assert.Contains(setting, result.FailureMessage, StringComparison.Ordinal);
        Assert.True(new RegistryOptionsValidator().Validate(null, new RegistryOptions()).Succeeded, "the defaults are valid");
    }

    [Fact]
    public void AppliedCallsAreRememberedWithinTheirWindowAndUpToTheirLimit()
    {
        var state = new RepositoryState();
        var start = DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
        Assert.False(state.WasApplied(null));
        state.RecordApplied(null, start);
        Assert.Empty(state.AppliedCalls);

        state.RecordApplied("first", start);
        Assert.True(state.WasApplied("first"));
        Assert.False(state.WasApplied("second"));

        // Out of the window: forgotten when the next call is recorded.
        state.RecordApplied("second", start + RepositoryState.AppliedCallWindow + TimeSpan.FromSeconds(1));
        Assert.False(state.WasApplied("first"));
        Assert.True(state.WasApplied("second"));

        for (var i = 0; i < RepositoryState.AppliedCallLimit + 10; i++)
        {
            state.RecordApplied($"c{i}", start + RepositoryState.AppliedCallWindow + TimeSpan.FromSeconds(2));
        }

        Assert.Equal(RepositoryState.AppliedCallLimit, state.AppliedCalls.Count);
        Assert.True(state.WasApplied($"c{RepositoryState.AppliedCallLimit + 9}"));
        Assert.False(state.WasApplied("c0"));
    }

    [Fact]
    public void KubernetesHostingIsOnOnlyInsideAPodThatSaysWhoItIsUnlessSetExplicitly()
    {
        var pod = new Dictionary<string, string> { ["POD_NAME"] = "registry-7d9f-abcde", ["POD_NAMESPACE"] = "images", ["KUBERNETES_SERVICE_HOST"] = "10.0.0.1" };
        Assert.True(KubernetesHosting.IsEnabled(new SiloOptions(), pod.GetValueOrDefault));
        foreach (var missing in pod.Keys)
        {
            var partial = pod.Where(p => p.Key != missing).ToDictionary();
            Assert.False(KubernetesHosting.IsEnabled(new SiloOptions(), partial.GetValueOrDefault), $"without {missing}");
        }

        Assert.False(KubernetesHosting.IsEnabled(new SiloOptions { Kubernetes = false }, pod.GetValueOrDefault));
        Assert.True(KubernetesHosting.IsEnabled(new SiloOptions { Kubernetes = true }, _ => null));
    }

    [Fact]
    public async Task AnEmbeddedSiloRetriesOnFailoverAndDoesNotWatchKubernetes()
    {
        await using var host = await RegistryHost.StartAsync();
        Assert.NotNull(FilterOf(host));
        Assert.DoesNotContain(host.Services.GetServices<ILifecycleParticipant<ISiloLifecycle>>(), p => p.GetType().Name == "KubernetesClusterAgent");
    }

    /// <summary>
    /// Throws a silo failure right after the next state writes of repositories, as a change whose
    /// call to a grain on a dead silo failed (the outbox directory, the catalog) does.
    /// </summary>
    private sealed class SiloFailureAfterWrites : IRepositoryFaults
    {
        private int _toFail;
        private int _failed;

        public int Failed => Volatile.Read(ref _failed);

        public void FailNext(int writes) => Volatile.Write(ref _toFail, writes);

        public void AfterStateWrite()
        {
            if (Interlocked.Decrement(ref _toFail) >= 0)
            {
                Interlocked.Increment(ref _failed);
                throw new SiloUnavailableException("the silo of a grain this change called died");
            }
        }

        public Task AfterPublishAsync(Func<Task> writeState) => Task.CompletedTask;
    }

    /// <summary>The exception Orleans throws for a rejected message (its constructors are internal to Orleans).</summary>
    private static OrleansMessageRejectionException Rejection(string message)
        => (OrleansMessageRejectionException)Activator.CreateInstance(typeof(OrleansMessageRejectionException), BindingFlags.NonPublic | BindingFlags.Instance, null, [message], null)!;

    private static FailoverRetryFilter FilterOf(RegistryHost host)
        => host.Services.GetServices<IOutgoingGrainCallFilter>().OfType<FailoverRetryFilter>().Single();
}
