using Registry.Grains;

namespace Registry.Tests;

/// <summary>The coalescing of a reentrant grain's state writes, driven one turn at a time as its grain would.</summary>
[Trait("Category", "Fast")]
public sealed class GroupCommitTests
{
    [Fact]
    public Task ConcurrentCommitsShareWritesAndEachWaitsForAWriteThatBeganAfterItsChange() => GrainTurns.RunAsync(async () =>
    {
        var writes = new GatedWrites();
        var commit = new GroupCommit(writes.WriteAsync);

        var first = commit.CommitAsync();
        Assert.Equal(1, writes.Started);

        // Changes made while the first write is in flight: that write does not cover them.
        var later = Enumerable.Range(0, 9).Select(_ => commit.CommitAsync()).ToArray();
        Assert.Equal(1, writes.Started);

        writes.CompleteNext();
        await first;
        await writes.StartedAsync(2);
        Assert.All(later, t => Assert.False(t.IsCompleted));

        writes.CompleteNext();
        await Task.WhenAll(later);
        Assert.Equal(2, writes.Started);

        // Nothing in flight: the next commit starts its own write.
        var next = commit.CommitAsync();
        Assert.Equal(3, writes.Started);
        writes.CompleteNext();
        await next;
    });

    [Fact]
    public Task AFailedWriteFailsItsWaitersAndEveryLaterCommitAndRunsTheFailureCallback() => GrainTurns.RunAsync(async () =>
    {
        var writes = new GatedWrites();
        var failures = 0;
        var commit = new GroupCommit(writes.WriteAsync, () => failures++);

        var a = commit.CommitAsync();
        var b = commit.CommitAsync();
        writes.FailNext(new IOException("the disk is gone"));

        await Assert.ThrowsAsync<IOException>(() => a);
        await Assert.ThrowsAsync<IOException>(() => b);

        // The activation's memory is ahead of storage: no later change may be acknowledged.
        var c = await Assert.ThrowsAsync<InvalidOperationException>(() => commit.CommitAsync());
        Assert.IsType<IOException>(c.InnerException);
        Assert.Equal(1, writes.Started);
        Assert.Equal(3, failures);
    });
}
