using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Specialized;
using Registry.Storage;

namespace Registry.Tests;

/// <summary>The storage contract against Azure Blob Storage (Azurite), plus what only block blobs show.</summary>
[Trait("Category", TestCategories.Azurite)]
public sealed class AzureBlobStoreTests(AzuriteFixture azurite) : BlobStoreContract, IClassFixture<AzuriteFixture>
{
    private BlobContainerClient? _container;

    private BlobContainerClient Container => _container!;

    protected override async Task<IBlobStore> CreateStoreAsync()
    {
        _container = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient(AzuriteFixture.UniqueName("blobs"));
        var store = new AzureBlobStore(_container);
        await store.InitializeAsync(Ct);
        return store;
    }

    protected override async Task<IBlobStore> OpenPeerAsync()
    {
        // Another replica: its own clients, the same container.
        var container = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient(Container.Name);
        var store = new AzureBlobStore(container);
        await store.InitializeAsync(Ct);
        return store;
    }

    /// <summary>
    /// A collection that died between deleting a blob's address and its bytes: the committed
    /// upload's data blob is left with no upload and no address.
    /// </summary>
    protected override async Task<string> LeaveStrayAsync()
    {
        var content = Oci.RandomBytes(3000);
        var digest = Oci.Digest(content);
        var id = await CreateUploadAsync();
        await StageAsync(id, 0, content);
        await Store.CommitUploadAsync(id, content.Length, digest, Ct);
        await Container.GetBlobClient(StorageLayout.BlobPath(digest)).DeleteAsync(cancellationToken: Ct);
        return StorageLayout.UploadDataPath(id);
    }

    [Fact]
    public async Task StagedBytesWhoseUploadInfoIsGoneAreAStray()
    {
        // An upload discarded by a process that died between its two deletes (data first normally;
        // here the other way round, as an older version or a manual clean-up may leave it).
        var id = await CreateUploadAsync();
        await StageAsync(id, 0, Oci.RandomBytes(900));
        await Container.GetBlobClient(StorageLayout.UploadInfoPath(id)).DeleteAsync(cancellationToken: Ct);

        var stray = Assert.Single(await ListStraysAsync(DateTimeOffset.UtcNow.AddHours(1)), s => s.Name == StorageLayout.UploadDataPath(id));
        Assert.Equal(900, stray.Size);
        Assert.True(await Store.DeleteStrayIfUnchangedAsync(stray.Name, stray.Version, Ct));
        Assert.False(await Container.GetBlobClient(StorageLayout.UploadDataPath(id)).ExistsAsync(Ct));
    }

    protected override async Task DeleteStoreAsync()
    {
        if (_container is not null)
        {
            await _container.DeleteIfExistsAsync(cancellationToken: CancellationToken.None);
        }
    }

    [Fact]
    public async Task MultiBlockUploadFromSeveralWritersReadsBackExactly()
    {
        // 2.5 blocks through the first writer, 1.75 through the second (another replica), a partial last block.
        const int block = AzureBlobStore.BlockSize;
        var content = Oci.RandomBytes((4 * block) + (block / 4) + 12_345);
        var digest = Oci.Digest(content);
        var peer = await OpenPeerAsync();
        var id = await CreateUploadAsync();
        var firstEnd = (2 * block) + (block / 2);
        var secondEnd = firstEnd + block + (3 * block / 4);

        await using (var writer = await Store.OpenUploadWriterAsync(id, 0, Ct))
        {
            // Odd write sizes, so blocks fill across writes.
            for (var at = 0; at < firstEnd; at += 1_000_003)
            {
                await writer.WriteAsync(content.AsMemory(at, Math.Min(1_000_003, firstEnd - at)), Ct);
            }
        }

        await AssertNotVisibleAsync(digest);
        await using (var writer = await peer.OpenUploadWriterAsync(id, firstEnd, Ct))
        {
            await writer.WriteAsync(content.AsMemory(firstEnd, secondEnd - firstEnd), Ct);
            await AssertNotVisibleAsync(digest);
        }

        await using (var writer = await Store.OpenUploadWriterAsync(id, secondEnd, Ct))
        {
            await writer.WriteAsync(content.AsMemory(secondEnd), Ct);
        }

        await AssertNotVisibleAsync(digest);
        Assert.Equal(content, await ReadAsync(await peer.OpenUploadReaderAsync(id, content.Length, Ct)));
        var blocks = await Container.GetBlockBlobClient($"uploads/{id}/data").GetBlockListAsync(cancellationToken: Ct);
        Assert.True(blocks.Value.CommittedBlocks.Count() >= 6, $"{blocks.Value.CommittedBlocks.Count()} blocks");
        Assert.All(blocks.Value.CommittedBlocks, b => Assert.InRange(b.SizeLong, 1, block));

        await peer.CommitUploadAsync(id, content.Length, digest, Ct);

        Assert.Equal(content.Length, await Store.GetSizeAsync(digest, Ct));
        Assert.Equal(content, await ReadBlobAsync(digest, 0));
        Assert.Equal(content[(3 * block + 17)..], await ReadBlobAsync(digest, (3 * block) + 17));
        Assert.DoesNotContain(await ListUploadIdsAsync(), u => u == id);
    }

    [Fact]
    public async Task RetryAndCommitInsideAFullBlockKeepTheBlocksHead()
    {
        // Offsets inside a 4 MiB block: the head of that block must survive a retried chunk and a shorter commit.
        const int block = AzureBlobStore.BlockSize;
        var first = Oci.RandomBytes((2 * block) + 100);
        var id = await CreateUploadAsync();
        await StageAsync(id, 0, first);

        var retryAt = block + 777_777;
        var retry = Oci.RandomBytes(block);
        await StageAsync(id, retryAt, retry);
        byte[] staged = [.. first[..retryAt], .. retry];
        Assert.Equal(staged, await ReadStagedAsync(id, staged.Length));

        var length = block + 1_234_567;
        var expected = staged[..length];
        await Store.CommitUploadAsync(id, length, Oci.Digest(expected), Ct);

        Assert.Equal(length, await Store.GetSizeAsync(Oci.Digest(expected), Ct));
        Assert.Equal(expected, await ReadBlobAsync(Oci.Digest(expected), 0));
    }

    [Fact]
    public async Task AVanishedStagingAreaIsUploadUnknownToReadersAndCommits()
    {
        // An upload cancelled or expired (by another replica) while a PUT finishes it: the registry
        // answers BLOB_UPLOAD_UNKNOWN for UploadUnknownException, as the filesystem driver throws it.
        var content = Oci.RandomBytes(1000);
        var id = await CreateUploadAsync();
        await StageAsync(id, 0, content);
        await (await OpenPeerAsync()).DeleteUploadAsync(id, Ct);

        await Assert.ThrowsAsync<UploadUnknownException>(() => Store.OpenUploadReaderAsync(id, content.Length, Ct));
        await Assert.ThrowsAsync<UploadUnknownException>(() => Store.CommitUploadAsync(id, content.Length, Oci.Digest(content), Ct));
        await Assert.ThrowsAsync<UploadUnknownException>(() => Store.OpenUploadWriterAsync(id, content.Length, Ct));
        Assert.Null(await Store.GetSizeAsync(Oci.Digest(content), Ct));
    }

    [Fact]
    public async Task NothingIsWrittenUnderBlobsBeforeCommit()
    {
        var content = Oci.RandomBytes(AzureBlobStore.BlockSize + 1000);
        var digest = Oci.Digest(content);
        var id = await CreateUploadAsync();
        await StageAsync(id, 0, content);

        Assert.Empty(await BlobNamesAsync("blobs/"));
        await Store.CommitUploadAsync(id, content.Length, digest, Ct);

        var hex = digest["sha256:".Length..];
        Assert.Equal([$"blobs/sha256/{hex[..2]}/{hex}"], await BlobNamesAsync("blobs/"));

        // Committed without a copy: the staged blocks stay where they are and the address points at them.
        Assert.Equal([$"uploads/{id}/data"], await BlobNamesAsync("uploads/"));
        Assert.Equal(content.Length, await StoredBytesAsync());
    }

    [Fact]
    public async Task WritersBeyondTheLargeBlockBudgetStageSmallBlocksThatReadBackExactly()
    {
        // 12 writers open at once: 4 may hold 4 MiB block buffers, the others stage 1 MiB blocks.
        var contents = Enumerable.Range(0, 12).Select(_ => Oci.RandomBytes((2 * AzureBlobStore.SmallBlockSize) + 4321)).ToArray();
        var ids = new List<string>();
        var writers = new List<Stream>();
        foreach (var _ in contents)
        {
            var id = await CreateUploadAsync();
            ids.Add(id);
            writers.Add(await Store.OpenUploadWriterAsync(id, 0, Ct));
        }

        for (var i = 0; i < writers.Count; i++)
        {
            await writers[i].WriteAsync(contents[i], Ct);
        }

        foreach (var writer in writers)
        {
            await writer.DisposeAsync();
        }

        var blockCounts = new List<int>();
        for (var i = 0; i < ids.Count; i++)
        {
            var blocks = await Container.GetBlockBlobClient($"uploads/{ids[i]}/data").GetBlockListAsync(cancellationToken: Ct);
            blockCounts.Add(blocks.Value.CommittedBlocks.Count());
            await Store.CommitUploadAsync(ids[i], contents[i].Length, Oci.Digest(contents[i]), Ct);
            Assert.Equal(contents[i], await ReadBlobAsync(Oci.Digest(contents[i]), 0));
        }

        Assert.Contains(1, blockCounts);
        Assert.Contains(3, blockCounts);
    }

    [Fact]
    public async Task CommitsOfOneDigestStoreItsBytesOnceWithoutAServerSideCopy()
    {
        var content = Oci.RandomBytes(AzureBlobStore.BlockSize + 5000);
        var digest = Oci.Digest(content);
        var peer = await OpenPeerAsync();
        var ids = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            var id = await CreateUploadAsync();
            await StageAsync(id, 0, content);
            ids.Add(id);
        }

        await Task.WhenAll(ids.Select((id, i) => Task.Run(() => (i % 2 == 0 ? Store : peer).CommitUploadAsync(id, content.Length, digest, Ct)))).WithinAsync();

        Assert.Equal(content, await ReadBlobAsync(digest, 0));
        Assert.Equal(content.Length, await StoredBytesAsync());
        Assert.Empty(await ListUploadIdsAsync());
        await foreach (var item in Container.GetBlobsAsync(new Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = "blobs/" }, Ct))
        {
            Assert.Null((await Container.GetBlobClient(item.Name).GetPropertiesAsync(cancellationToken: Ct)).Value.CopyId);
        }

        // Deleting the blob deletes its bytes too.
        Assert.True(await Store.DeleteAsync(digest, Ct));
        Assert.Equal(0, await StoredBytesAsync());
    }

    [Fact]
    public async Task ADiscardLeavesBytesMarkedByACommitInFlightAndRemovesThoseOfACrashedOne()
    {
        // Between marking the data and creating the address, a commit's bytes must survive a discard
        // (the sweep, another replica); bytes marked long ago by a commit that never finished go.
        var content = Oci.RandomBytes(2000);
        var inFlight = await CreateUploadAsync();
        var crashed = await CreateUploadAsync();
        await StageAsync(inFlight, 0, content);
        await StageAsync(crashed, 0, content);
        await MarkAsync(inFlight, DateTimeOffset.UtcNow);
        await MarkAsync(crashed, DateTimeOffset.UtcNow.AddHours(-1));

        await Store.DeleteUploadAsync(inFlight, Ct);
        await Store.DeleteUploadAsync(crashed, Ct);

        Assert.Equal([$"uploads/{inFlight}/data"], await BlobNamesAsync("uploads/"));

        async Task MarkAsync(string id, DateTimeOffset at)
            => await Container.GetBlobClient($"uploads/{id}/data").SetMetadataAsync(
                new Dictionary<string, string> { ["digest"] = Oci.Digest(content), ["committedat"] = at.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture) },
                cancellationToken: Ct);
    }

    private async Task<long> StoredBytesAsync()
    {
        long total = 0;
        await foreach (var item in Container.GetBlobsAsync(cancellationToken: Ct))
        {
            total += item.Properties.ContentLength ?? 0;
        }

        return total;
    }

    private async Task AssertNotVisibleAsync(string digest)
    {
        Assert.Null(await Store.GetSizeAsync(digest, Ct));
        Assert.Null(await Store.OpenReadAsync(digest, 0, Ct));
        Assert.Empty(await BlobNamesAsync("blobs/"));
    }

    private async Task<List<string>> BlobNamesAsync(string prefix)
    {
        var names = new List<string>();
        await foreach (var item in Container.GetBlobsAsync(new Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = prefix }, Ct))
        {
            names.Add(item.Name);
        }

        return names;
    }
}
