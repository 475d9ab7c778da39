using Registry.Storage;

namespace Registry.Tests;

/// <summary>
/// What every storage driver promises through <see cref="IBlobStore"/>. A driver's test class
/// derives from this one and says how to make a fresh, empty store; every test here then runs
/// against it. Only the interface's promises are tested, so the same tests hold for the
/// filesystem and for a cloud backend (which may be shared: tests use their own ids and digests
/// and never assume an otherwise empty store).
/// </summary>
public abstract class BlobStoreContract : IAsyncLifetime
{
    private readonly CancellationTokenSource _timeout = Bounded.Token();

    /// <summary>The store under test, new for every test.</summary>
    protected IBlobStore Store { get; private set; } = null!;

    protected CancellationToken Ct => _timeout.Token;

    /// <summary>Creates a fresh store over its own backend (a new directory, a new container).</summary>
    protected abstract Task<IBlobStore> CreateStoreAsync();

    /// <summary>A second store instance over the same backend as <see cref="Store"/>, as another replica has it.</summary>
    protected abstract Task<IBlobStore> OpenPeerAsync();

    /// <summary>
    /// Leaves what a crash of this driver leaves behind (a temporary file, staged bytes whose upload
    /// and address are gone) and returns the name a stray listing gives it.
    /// </summary>
    protected abstract Task<string> LeaveStrayAsync();

    /// <summary>Releases the backend created by <see cref="CreateStoreAsync"/>.</summary>
    protected virtual Task DeleteStoreAsync() => Task.CompletedTask;

    public async Task InitializeAsync() => Store = await CreateStoreAsync();

    public async Task DisposeAsync()
    {
        try
        {
            await DeleteStoreAsync();
        }
        finally
        {
            _timeout.Dispose();
        }
    }

    // ---- blobs ----

    [Fact]
    public async Task PutBlobHasItsSizeAndReadsBackFromAnyOffset()
    {
        var content = Oci.RandomBytes(300_000);
        var digest = Oci.Digest(content);

        await Store.PutAsync(digest, content, Ct);

        Assert.Equal(content.Length, await Store.GetSizeAsync(digest, Ct));
        Assert.Equal(content, await ReadBlobAsync(digest, 0));
        Assert.Equal(content[1..], await ReadBlobAsync(digest, 1));
        Assert.Equal(content[123_457..], await ReadBlobAsync(digest, 123_457));
        Assert.Equal(content[^1..], await ReadBlobAsync(digest, content.Length - 1));
    }

    [Fact]
    public async Task Sha512DigestsAreStoredLikeSha256()
    {
        var content = Oci.RandomBytes(5000);
        var digest = Oci.Sha512(content);

        await Store.PutAsync(digest, content, Ct);
        Assert.Equal(content, await ReadBlobAsync(digest, 0));

        var staged = Oci.RandomBytes(7000);
        var stagedDigest = Oci.Sha512(staged);
        var id = await CreateUploadAsync();
        await StageAsync(id, 0, staged);
        await Store.CommitUploadAsync(id, staged.Length, stagedDigest, Ct);
        Assert.Equal(staged, await ReadBlobAsync(stagedDigest, 0));
    }

    [Fact]
    public async Task EmptyBlobIsStoredWithSizeZero()
    {
        var digest = Oci.Digest([]);

        await Store.PutAsync(digest, ReadOnlyMemory<byte>.Empty, Ct);

        Assert.Equal(0, await Store.GetSizeAsync(digest, Ct));
        Assert.Empty(await ReadBlobAsync(digest, 0));
    }

    [Fact]
    public async Task PutIsIdempotent()
    {
        var content = Oci.RandomBytes(10_000);
        var digest = Oci.Digest(content);

        await Store.PutAsync(digest, content, Ct);
        await Store.PutAsync(digest, content, Ct);

        Assert.Equal(content.Length, await Store.GetSizeAsync(digest, Ct));
        Assert.Equal(content, await ReadBlobAsync(digest, 0));
    }

    [Fact]
    public async Task ConcurrentPutsOfOneBlobAllSucceed()
    {
        var content = Oci.RandomBytes(1 << 20);
        var digest = Oci.Digest(content);
        var peer = await OpenPeerAsync();

        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => (i % 2 == 0 ? Store : peer).PutAsync(digest, content, Ct)))).WithinAsync();

        Assert.Equal(content.Length, await Store.GetSizeAsync(digest, Ct));
        Assert.Equal(content, await ReadBlobAsync(digest, 0));
    }

    [Fact]
    public async Task PutOfAStoredBlobIsANoOpThatNeverRewritesIt()
    {
        // A blob is immutable once stored: readers may be streaming it while the same digest is pushed again.
        var content = Oci.RandomBytes(4096);
        var digest = Oci.Digest(content);
        await Store.PutAsync(digest, content, Ct);

        await Store.PutAsync(digest, Oci.RandomBytes(100), Ct);

        Assert.Equal(content.Length, await Store.GetSizeAsync(digest, Ct));
        Assert.Equal(content, await ReadBlobAsync(digest, 0));
    }

    [Fact]
    public async Task AbsentBlobHasNoSizeAndNoStream()
    {
        var digest = Oci.Digest(Oci.RandomBytes(64));

        Assert.Null(await Store.GetSizeAsync(digest, Ct));
        Assert.Null(await Store.OpenReadAsync(digest, 0, Ct));
        Assert.Null(await Store.OpenReadAsync(digest, 10, Ct));
        Assert.False(await Store.DeleteAsync(digest, Ct));
    }

    [Fact]
    public async Task DeleteRemovesTheBlobOnce()
    {
        var content = Oci.RandomBytes(2048);
        var digest = Oci.Digest(content);
        var other = Oci.RandomBytes(2048);
        await Store.PutAsync(digest, content, Ct);
        await Store.PutAsync(Oci.Digest(other), other, Ct);

        Assert.True(await Store.DeleteAsync(digest, Ct));

        Assert.Null(await Store.GetSizeAsync(digest, Ct));
        Assert.Null(await Store.OpenReadAsync(digest, 0, Ct));
        Assert.False(await Store.DeleteAsync(digest, Ct));
        Assert.Equal(other, await ReadBlobAsync(Oci.Digest(other), 0));

        await Store.PutAsync(digest, content, Ct);
        Assert.Equal(content, await ReadBlobAsync(digest, 0));
    }

    [Fact]
    public async Task PeerStoreSeesTheSameBlobs()
    {
        var content = Oci.RandomBytes(3000);
        var digest = Oci.Digest(content);
        var peer = await OpenPeerAsync();

        await Store.PutAsync(digest, content, Ct);

        Assert.Equal(content.Length, await peer.GetSizeAsync(digest, Ct));
        Assert.Equal(content, await ReadAsync(await peer.OpenReadAsync(digest, 0, Ct)));
        Assert.True(await peer.DeleteAsync(digest, Ct));
        Assert.Null(await Store.GetSizeAsync(digest, Ct));
    }

    // ---- uploads ----

    [Fact]
    public async Task ChunkedUploadStagesWritesAndCommitsExactlyTheStagedBytes()
    {
        var content = Oci.RandomBytes(200_000);
        var digest = Oci.Digest(content);
        var id = await CreateUploadAsync();

        await StageAsync(id, 0, content[..70_000]);
        Assert.Equal(content[..70_000], await ReadStagedAsync(id, 70_000));

        await StageAsync(id, 70_000, content[70_000..]);
        Assert.Equal(content, await ReadStagedAsync(id, content.Length));
        Assert.Equal(content[..12_345], await ReadStagedAsync(id, 12_345));

        await Store.CommitUploadAsync(id, content.Length, digest, Ct);

        Assert.Equal(content.Length, await Store.GetSizeAsync(digest, Ct));
        Assert.Equal(content, await ReadBlobAsync(digest, 0));
        Assert.DoesNotContain(await ListUploadIdsAsync(), u => u == id);
    }

    [Fact]
    public async Task ManySmallChunksAddUp()
    {
        var content = Oci.RandomBytes(10_000);
        var digest = Oci.Digest(content);
        var id = await CreateUploadAsync();

        for (var offset = 0; offset < content.Length; offset += 1000)
        {
            await StageAsync(id, offset, content[offset..(offset + 1000)]);
        }

        Assert.Equal(content, await ReadStagedAsync(id, content.Length));
        await Store.CommitUploadAsync(id, content.Length, digest, Ct);
        Assert.Equal(content, await ReadBlobAsync(digest, 0));
    }

    [Fact]
    public async Task WriterOpenedAtAnEarlierOffsetDiscardsWhatWasStagedBeyondIt()
    {
        var first = Oci.RandomBytes(1500);
        var id = await CreateUploadAsync();
        await StageAsync(id, 0, first[..1000]);
        await StageAsync(id, 1000, first[1000..]);

        // A chunk retried from inside what is staged: everything from 700 on is replaced.
        var retry = Oci.RandomBytes(100);
        await StageAsync(id, 700, retry);
        byte[] expected = [.. first[..700], .. retry];

        Assert.Equal(expected, await ReadStagedAsync(id, expected.Length));
        await Store.CommitUploadAsync(id, expected.Length, Oci.Digest(expected), Ct);

        Assert.Equal(expected.Length, await Store.GetSizeAsync(Oci.Digest(expected), Ct));
        Assert.Equal(expected, await ReadBlobAsync(Oci.Digest(expected), 0));
    }

    [Fact]
    public async Task FailedChunkRetriedAtItsOffsetReplacesTheFailedPart()
    {
        var head = Oci.RandomBytes(1000);
        var id = await CreateUploadAsync();
        await StageAsync(id, 0, head);
        await StageAsync(id, 1000, Oci.RandomBytes(5000)); // the failed chunk, longer than its retry

        var tail = Oci.RandomBytes(300);
        await StageAsync(id, 1000, tail);
        byte[] expected = [.. head, .. tail];

        Assert.Equal(expected, await ReadStagedAsync(id, expected.Length));
        await Store.CommitUploadAsync(id, expected.Length, Oci.Digest(expected), Ct);
        Assert.Equal(expected, await ReadBlobAsync(Oci.Digest(expected), 0));
    }

    [Fact]
    public async Task CommitTakesExactlyLengthBytesEvenWhenMoreWereStaged()
    {
        // A chunk that turned out longer than announced stays staged beyond the session's offset;
        // finishing the upload commits the acknowledged prefix only.
        var staged = Oci.RandomBytes(4000);
        var expected = staged[..2500];
        var id = await CreateUploadAsync();
        await StageAsync(id, 0, staged);

        await Store.CommitUploadAsync(id, expected.Length, Oci.Digest(expected), Ct);

        Assert.Equal(expected.Length, await Store.GetSizeAsync(Oci.Digest(expected), Ct));
        Assert.Equal(expected, await ReadBlobAsync(Oci.Digest(expected), 0));
        Assert.DoesNotContain(await ListUploadIdsAsync(), u => u == id);
    }

    [Fact]
    public async Task EmptyUploadCommitsAnEmptyBlob()
    {
        var id = await CreateUploadAsync();
        var digest = Oci.Digest([]);

        await Store.CommitUploadAsync(id, 0, digest, Ct);

        Assert.Equal(0, await Store.GetSizeAsync(digest, Ct));
        Assert.DoesNotContain(await ListUploadIdsAsync(), u => u == id);
    }

    [Fact]
    public async Task BlobIsNeverVisibleBeforeCommit()
    {
        var content = Oci.RandomBytes(100_000);
        var digest = Oci.Digest(content);
        var id = await CreateUploadAsync();

        await using (var writer = await Store.OpenUploadWriterAsync(id, 0, Ct))
        {
            await writer.WriteAsync(content.AsMemory(0, 60_000), Ct);
            await writer.FlushAsync(Ct);
            await AssertAbsentAsync(digest);
            await writer.WriteAsync(content.AsMemory(60_000), Ct);
            await AssertAbsentAsync(digest);
        }

        await AssertAbsentAsync(digest);
        Assert.Equal(content, await ReadStagedAsync(id, content.Length));
        await AssertAbsentAsync(digest);

        await Store.CommitUploadAsync(id, content.Length, digest, Ct);
        Assert.Equal(content, await ReadBlobAsync(digest, 0));
    }

    [Fact]
    public async Task CommitOfABlobThatIsAlreadyStoredKeepsOneCopyAndDropsTheStaging()
    {
        var content = Oci.RandomBytes(50_000);
        var digest = Oci.Digest(content);
        await Store.PutAsync(digest, content, Ct);
        var id = await CreateUploadAsync();
        await StageAsync(id, 0, content);

        await Store.CommitUploadAsync(id, content.Length, digest, Ct);

        Assert.Equal(content.Length, await Store.GetSizeAsync(digest, Ct));
        Assert.Equal(content, await ReadBlobAsync(digest, 0));
        Assert.DoesNotContain(await ListUploadIdsAsync(), u => u == id);

        // And the same once more through a second upload.
        var again = await CreateUploadAsync();
        await StageAsync(again, 0, content);
        await Store.CommitUploadAsync(again, content.Length, digest, Ct);
        Assert.Equal(content, await ReadBlobAsync(digest, 0));
        Assert.DoesNotContain(await ListUploadIdsAsync(), u => u == again);
    }

    protected async Task<Dictionary<string, ListedBlob>> ListBlobsAsync()
    {
        var blobs = new Dictionary<string, ListedBlob>(StringComparer.Ordinal);
        await foreach (var blob in Store.ListBlobsAsync(Ct))
        {
            blobs[blob.Digest] = blob;
        }

        return blobs;
    }

    [Fact]
    public async Task ListingFindsPutAndCommittedBlobsWithTheirSizes()
    {
        var put = Oci.RandomBytes(1500);
        var committed = Oci.RandomBytes(40_000);
        await Store.PutAsync(Oci.Digest(put), put, Ct);
        var id = await CreateUploadAsync();
        await StageAsync(id, 0, committed);
        await Store.CommitUploadAsync(id, committed.Length, Oci.Digest(committed), Ct);

        var listed = await ListBlobsAsync();

        Assert.Equal(put.Length, listed[Oci.Digest(put)].Size);
        Assert.Equal(committed.Length, listed[Oci.Digest(committed)].Size);
        Assert.All(listed.Values, b => Assert.True(b.LastModified > DateTimeOffset.UtcNow - TimeSpan.FromDays(1)));
    }

    [Fact]
    public async Task ATouchDefeatsADeleteConditionalOnTheVersionListedBefore()
    {
        var content = Oci.RandomBytes(40_000);
        var digest = Oci.Digest(content);
        var id = await CreateUploadAsync();
        await StageAsync(id, 0, content);
        await Store.CommitUploadAsync(id, content.Length, digest, Ct);
        var before = (await ListBlobsAsync())[digest];

        Assert.True(await (await OpenPeerAsync()).TouchAsync(digest, Ct));

        var after = (await ListBlobsAsync())[digest];
        Assert.NotEqual(before.Version, after.Version);
        Assert.True(after.LastModified >= before.LastModified);
        Assert.False(await Store.DeleteIfUnchangedAsync(digest, before.Version, Ct));
        Assert.Equal(content, await ReadBlobAsync(digest, 0));

        Assert.True(await Store.DeleteIfUnchangedAsync(digest, after.Version, Ct));
        Assert.Null(await Store.GetSizeAsync(digest, Ct));
        Assert.DoesNotContain(digest, (await ListBlobsAsync()).Keys);
        Assert.False(await Store.TouchAsync(digest, Ct));
        Assert.False(await Store.DeleteIfUnchangedAsync(digest, after.Version, Ct));

        // Deleted, it can be stored again.
        await Store.PutAsync(digest, content, Ct);
        Assert.Equal(content, await ReadBlobAsync(digest, 0));
    }

    [Fact]
    public async Task ConcurrentCommitsOfOneBlobAllSucceed()
    {
        var content = Oci.RandomBytes(1 << 20);
        var digest = Oci.Digest(content);
        var peer = await OpenPeerAsync();
        var ids = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            var id = await CreateUploadAsync();
            await StageAsync(id, 0, content);
            ids.Add(id);
        }

        await Task.WhenAll(ids.Select((id, i) => Task.Run(() => (i % 2 == 0 ? Store : peer).CommitUploadAsync(id, content.Length, digest, Ct)))).WithinAsync();

        Assert.Equal(content.Length, await Store.GetSizeAsync(digest, Ct));
        Assert.Equal(content, await ReadBlobAsync(digest, 0));
        var listed = await ListUploadIdsAsync();
        Assert.DoesNotContain(listed, ids.Contains);
    }

    [Fact]
    public async Task DeleteUploadRemovesTheStagingAndIsIdempotent()
    {
        var content = Oci.RandomBytes(5000);
        var id = await CreateUploadAsync();
        var keep = await CreateUploadAsync();
        await StageAsync(id, 0, content);
        await StageAsync(keep, 0, content[..100]);

        await Store.DeleteUploadAsync(id, Ct);

        var listed = await ListUploadIdsAsync();
        Assert.DoesNotContain(id, listed);
        Assert.Contains(keep, listed);
        Assert.Null(await Store.GetSizeAsync(Oci.Digest(content), Ct));
        Assert.Equal(content[..100], await ReadStagedAsync(keep, 100));

        // The registry deletes a staging area again when a session is cancelled after a failed commit.
        await Store.DeleteUploadAsync(id, Ct);
        await Store.DeleteUploadAsync(Guid.NewGuid().ToString("N"), Ct);
    }

    [Fact]
    public async Task ListUploadsReportsTheStartTimeGivenAtCreation()
    {
        var longAgo = new DateTimeOffset(2023, 11, 14, 22, 13, 20, 456, TimeSpan.Zero);
        var elsewhere = new DateTimeOffset(2024, 2, 29, 23, 59, 58, 7, TimeSpan.FromHours(2));
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var ids = new Dictionary<string, DateTimeOffset>
        {
            [Guid.NewGuid().ToString("N")] = longAgo,
            [Guid.NewGuid().ToString("N")] = elsewhere,
            [Guid.NewGuid().ToString("N")] = now,
        };
        foreach (var (id, startedAt) in ids)
        {
            await Store.CreateUploadAsync(id, startedAt, Ct);
        }

        await StageAsync(ids.Keys.First(), 0, Oci.RandomBytes(10));

        var listed = await ListUploadsAsync();
        foreach (var (id, startedAt) in ids)
        {
            var upload = Assert.Single(listed, u => u.UploadId == id);
            Assert.Equal(startedAt, upload.StartedAt);
        }
    }

    /// <summary>
    /// What a collection does with expired uploads (docs/garbage-collection.md): the staging of an
    /// upload abandoned mid-way (chunks staged, never committed) and started before the cutoff goes
    /// with its bytes counted; a dry run only counts; a younger upload, and one whose session is not
    /// expired after all, keep their staging and finish.
    /// </summary>
    [Fact]
    public async Task ExpiredUploadsAreReclaimedWithTheirStagedBytesAndYoungerOnesFinish()
    {
        var now = DateTimeOffset.UtcNow;
        var cutoff = now - TimeSpan.FromHours(24);
        var staged = Oci.RandomBytes(70_000);
        var abandoned = Guid.NewGuid().ToString("N");
        await Store.CreateUploadAsync(abandoned, cutoff - TimeSpan.FromHours(1), Ct);
        await StageAsync(abandoned, 0, staged[..30_000]);
        await StageAsync(abandoned, 30_000, staged[30_000..]);
        var emptyAbandoned = Guid.NewGuid().ToString("N");
        await Store.CreateUploadAsync(emptyAbandoned, cutoff - TimeSpan.FromDays(3), Ct);
        var sessionLives = Guid.NewGuid().ToString("N");
        await Store.CreateUploadAsync(sessionLives, cutoff - TimeSpan.FromMinutes(1), Ct);
        await StageAsync(sessionLives, 0, staged[..100]);
        var young = Guid.NewGuid().ToString("N");
        var content = Oci.RandomBytes(9000);
        await Store.CreateUploadAsync(young, cutoff + TimeSpan.FromMinutes(1), Ct);
        await StageAsync(young, 0, content[..4000]);

        var ended = new List<string>();
        Task<bool> EndSession(StagedUpload upload)
        {
            ended.Add(upload.UploadId);
            return Task.FromResult(upload.UploadId != sessionLives);
        }

        async Task<Dictionary<string, long>> ReclaimAsync(bool dryRun)
        {
            var reclaimed = new Dictionary<string, long>();
            await foreach (var upload in new UploadStaging(Store).ReclaimStartedBeforeAsync(cutoff, dryRun, EndSession, (u, e) => Assert.Fail($"{u.UploadId}: {e}"), Ct))
            {
                reclaimed.Add(upload.UploadId, upload.Size);
            }

            return reclaimed;
        }

        string[] ours = [abandoned, emptyAbandoned, sessionLives, young];
        var dry = await ReclaimAsync(dryRun: true);
        Assert.Equal(70_000, dry[abandoned]);
        Assert.Equal(0, dry[emptyAbandoned]);
        Assert.Equal(100, dry[sessionLives]);
        Assert.DoesNotContain(young, dry.Keys);
        Assert.Empty(ended);
        Assert.Equal(staged, await ReadStagedAsync(abandoned, staged.Length));
        var before = await ListUploadIdsAsync();
        Assert.All(ours, id => Assert.Contains(id, before));

        var run = await ReclaimAsync(dryRun: false);
        Assert.Equal(70_000, run[abandoned]);
        Assert.Equal(0, run[emptyAbandoned]);
        Assert.DoesNotContain(sessionLives, run.Keys);
        Assert.DoesNotContain(young, run.Keys);
        Assert.Equal(new[] { abandoned, emptyAbandoned, sessionLives }.Order(StringComparer.Ordinal), ended.Order(StringComparer.Ordinal));
        var listed = await ListUploadIdsAsync();
        Assert.DoesNotContain(abandoned, listed);
        Assert.DoesNotContain(emptyAbandoned, listed);
        Assert.Contains(sessionLives, listed);
        Assert.Contains(young, listed);
        await Assert.ThrowsAsync<UploadUnknownException>(() => ReadStagedAsync(abandoned, 1));
        Assert.DoesNotContain(await ListStraysAsync(DateTimeOffset.UtcNow.AddHours(1)), s => s.Name.Contains(abandoned, StringComparison.Ordinal));
        Assert.Equal(staged[..100], await ReadStagedAsync(sessionLives, 100));

        // The younger upload finishes into its blob.
        await StageAsync(young, 4000, content[4000..]);
        await Store.CommitUploadAsync(young, content.Length, Oci.Digest(content), Ct);
        Assert.Equal(content, await ReadBlobAsync(Oci.Digest(content), 0));
        Assert.DoesNotContain((await ReclaimAsync(dryRun: false)).Keys, id => id != sessionLives);
    }

    [Fact]
    public async Task PeerStoreContinuesAnUploadStartedElsewhere()
    {
        // Chunks of one upload may land on different replicas.
        var content = Oci.RandomBytes(150_000);
        var digest = Oci.Digest(content);
        var peer = await OpenPeerAsync();
        var startedAt = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);
        var id = Guid.NewGuid().ToString("N");
        await Store.CreateUploadAsync(id, startedAt, Ct);
        await StageAsync(id, 0, content[..50_000]);

        Assert.Equal(startedAt, Assert.Single(await ListUploadsAsync(peer), u => u.UploadId == id).StartedAt);
        Assert.Equal(content[..50_000], await ReadAsync(await peer.OpenUploadReaderAsync(id, 50_000, Ct)));
        await using (var writer = await peer.OpenUploadWriterAsync(id, 50_000, Ct))
        {
            await writer.WriteAsync(content.AsMemory(50_000), Ct);
        }

        Assert.Equal(content, await ReadStagedAsync(id, content.Length));
        await peer.CommitUploadAsync(id, content.Length, digest, Ct);

        Assert.Equal(content, await ReadBlobAsync(digest, 0));
        Assert.DoesNotContain(await ListUploadIdsAsync(), u => u == id);
    }

    [Fact]
    public async Task DiscardingACommittedUploadAgainLeavesTheBlobIntact()
    {
        // The expiry sweep may have listed the upload just before it was committed, and a
        // commit may be retried after a crash: neither may take the blob's bytes.
        var content = Oci.RandomBytes(300_000);
        var digest = Oci.Digest(content);
        var peer = await OpenPeerAsync();
        var id = await CreateUploadAsync();
        await StageAsync(id, 0, content);
        await Store.CommitUploadAsync(id, content.Length, digest, Ct);

        await peer.DeleteUploadAsync(id, Ct);
        await Store.CommitUploadAsync(id, content.Length, digest, Ct);
        await Store.DeleteUploadAsync(id, Ct);

        Assert.Equal(content.Length, await peer.GetSizeAsync(digest, Ct));
        Assert.Equal(content, await ReadBlobAsync(digest, 0));
        Assert.Equal(content[123_456..], await ReadBlobAsync(digest, 123_456));
        Assert.DoesNotContain(await ListUploadIdsAsync(), u => u == id);
    }

    [Fact]
    public async Task ACommittedBlobCanBeDeletedAndPushedAgain()
    {
        var content = Oci.RandomBytes(70_000);
        var digest = Oci.Digest(content);
        var id = await CreateUploadAsync();
        await StageAsync(id, 0, content);
        await Store.CommitUploadAsync(id, content.Length, digest, Ct);

        Assert.True(await Store.DeleteAsync(digest, Ct));
        await AssertAbsentAsync(digest);
        Assert.False(await Store.DeleteAsync(digest, Ct));

        var again = await CreateUploadAsync();
        await StageAsync(again, 0, content);
        await Store.CommitUploadAsync(again, content.Length, digest, Ct);
        Assert.Equal(content, await ReadBlobAsync(digest, 0));
    }

    [Fact]
    public async Task ReadingAtTheEndOfABlobGivesNoBytes()
    {
        var content = Oci.RandomBytes(10_000);
        var digest = Oci.Digest(content);
        var id = await CreateUploadAsync();
        await StageAsync(id, 0, content);
        await Store.CommitUploadAsync(id, content.Length, digest, Ct);

        Assert.Empty(await ReadBlobAsync(digest, content.Length));
        Assert.Equal(content[^1..], await ReadBlobAsync(digest, content.Length - 1));
    }

    [Fact]
    public async Task ManyConcurrentReadersOfOneBlobEachReadItExactly()
    {
        // Readers held open together and read in small steps, as slow clients' responses read.
        var content = Oci.RandomBytes(1 << 20);
        var digest = Oci.Digest(content);
        await Store.PutAsync(digest, content, Ct);
        var streams = new List<Stream>();
        for (var i = 0; i < 32; i++)
        {
            streams.Add((await Store.OpenReadAsync(digest, i * 1000, Ct))!);
        }

        var read = await Task.WhenAll(streams.Select(async (stream, i) =>
        {
            await using (stream)
            {
                using var buffer = new MemoryStream();
                var step = new byte[4096];
                int n;
                while ((n = await stream.ReadAsync(step, Ct)) > 0)
                {
                    buffer.Write(step, 0, n);
                    await Task.Yield();
                }

                return (i, buffer.ToArray());
            }
        })).WithinAsync();

        Assert.All(read, r => Assert.Equal(content[(r.i * 1000)..], r.Item2));
    }

    // ---- strays (crash leftovers) ----

    [Fact]
    public async Task AStrayIsListedAndDeletedOnlyAtTheVersionListed()
    {
        var name = await LeaveStrayAsync();

        var stray = Assert.Single(await ListStraysAsync(DateTimeOffset.UtcNow.AddHours(1)), s => s.Name == name);

        Assert.False(await Store.DeleteStrayIfUnchangedAsync(name, stray.Version + "0", Ct));
        Assert.Contains(name, (await ListStraysAsync(DateTimeOffset.UtcNow.AddHours(1))).Select(s => s.Name));
        Assert.True(await (await OpenPeerAsync()).DeleteStrayIfUnchangedAsync(name, stray.Version, Ct));
        Assert.DoesNotContain(name, (await ListStraysAsync(DateTimeOffset.UtcNow.AddHours(1))).Select(s => s.Name));
        Assert.False(await Store.DeleteStrayIfUnchangedAsync(name, stray.Version, Ct));
    }

    [Fact]
    public async Task AStrayModifiedAfterTheCutoffIsNotListed()
    {
        var name = await LeaveStrayAsync();

        Assert.DoesNotContain(name, (await ListStraysAsync(DateTimeOffset.UtcNow.AddHours(-1))).Select(s => s.Name));
    }

    [Fact]
    public async Task StoredBlobsAndOpenUploadsAreNeverStrays()
    {
        var put = Oci.RandomBytes(1200);
        await Store.PutAsync(Oci.Digest(put), put, Ct);
        var committed = Oci.RandomBytes(30_000);
        var done = await CreateUploadAsync();
        await StageAsync(done, 0, committed);
        await Store.CommitUploadAsync(done, committed.Length, Oci.Digest(committed), Ct);
        var open = await CreateUploadAsync();
        await StageAsync(open, 0, committed[..500]);

        var strays = await ListStraysAsync(DateTimeOffset.UtcNow.AddHours(1));

        Assert.DoesNotContain(strays, s => s.Name.Contains(done, StringComparison.Ordinal) || s.Name.Contains(open, StringComparison.Ordinal));
        var listed = await ListBlobsAsync();
        Assert.Contains(Oci.Digest(put), listed.Keys);
        Assert.Contains(Oci.Digest(committed), listed.Keys);
    }

    [Fact]
    public async Task NamesThatAreNoStraysAreNeverDeletedAsStrays()
    {
        var content = Oci.RandomBytes(2000);
        var digest = Oci.Digest(content);
        var id = await CreateUploadAsync();
        await StageAsync(id, 0, content);
        await Store.CommitUploadAsync(id, content.Length, digest, Ct);
        var version = (await ListBlobsAsync())[digest].Version;
        var open = await CreateUploadAsync();
        await StageAsync(open, 0, content);
        var hex = digest[(digest.IndexOf(':') + 1)..];

        // Blob paths, traversal out of the stray area, an open upload's staged bytes, nonsense.
        string[] names =
        [
            $"blobs/sha256/{hex[..2]}/{hex}", $"tmp/../blobs/sha256/{hex[..2]}/{hex}", "tmp/../../etc/passwd", "tmp/", "tmp/..", "",
            $"uploads/{open}/data", $"uploads/{open}/info", $"uploads/../blobs/sha256/{hex[..2]}/{hex}/data", $"uploads/{id}/data",
        ];
        foreach (var name in names)
        {
            Assert.False(await Store.DeleteStrayIfUnchangedAsync(name, version, Ct), name);
            Assert.False(await Store.DeleteStrayIfUnchangedAsync(name, "*", Ct), name);
        }

        Assert.Equal(content, await ReadBlobAsync(digest, 0));
        Assert.Equal(content, await ReadStagedAsync(open, content.Length));
    }

    protected async Task<List<StrayItem>> ListStraysAsync(DateTimeOffset modifiedBefore)
    {
        var strays = new List<StrayItem>();
        await foreach (var stray in Store.ListStraysAsync(modifiedBefore, Ct))
        {
            strays.Add(stray);
        }

        return strays;
    }

    // ---- helpers ----

    protected async Task<string> CreateUploadAsync()
    {
        var id = Guid.NewGuid().ToString("N");
        await Store.CreateUploadAsync(id, DateTimeOffset.UtcNow, Ct);
        return id;
    }

    /// <summary>Stages <paramref name="bytes"/> at <paramref name="offset"/> through one writer, disposed afterwards.</summary>
    protected async Task StageAsync(string id, long offset, byte[] bytes)
    {
        await using var writer = await Store.OpenUploadWriterAsync(id, offset, Ct);
        await writer.WriteAsync(bytes, Ct);
    }

    protected async Task<byte[]> ReadStagedAsync(string id, long length)
        => await ReadAsync(await Store.OpenUploadReaderAsync(id, length, Ct));

    protected async Task<byte[]> ReadBlobAsync(string digest, long offset)
    {
        var stream = await Store.OpenReadAsync(digest, offset, Ct);
        Assert.NotNull(stream);
        return await ReadAsync(stream);
    }

    protected async Task<byte[]> ReadAsync(Stream? stream)
    {
        Assert.NotNull(stream);
        await using (stream)
        {
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer, Ct);
            return buffer.ToArray();
        }
    }

    protected Task<List<StagedUpload>> ListUploadsAsync() => ListUploadsAsync(Store);

    protected async Task<List<StagedUpload>> ListUploadsAsync(IBlobStore store)
    {
        var uploads = new List<StagedUpload>();
        await foreach (var upload in store.ListUploadsAsync(Ct))
        {
            uploads.Add(upload);
        }

        return uploads;
    }

    protected async Task<List<string>> ListUploadIdsAsync() => [.. (await ListUploadsAsync()).Select(u => u.UploadId)];

    private async Task AssertAbsentAsync(string digest)
    {
        Assert.Null(await Store.GetSizeAsync(digest, Ct));
        Assert.Null(await Store.OpenReadAsync(digest, 0, Ct));
    }
}
