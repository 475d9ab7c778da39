using Registry.Storage;

namespace Registry.Tests;

/// <summary>
/// The hand-off of blobs committed with direct I/O to the page cache: it reads them in off the
/// request path, and stays within its bounds (docs/storage-layout.md).
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class PageCacheWarmerTests : IDisposable
{
    private const int MiB = 1 << 20;

    private readonly CancellationTokenSource _timeout = Bounded.Token();

    private CancellationToken Ct => _timeout.Token;

    public void Dispose() => _timeout.Dispose();

    [Fact]
    public async Task ABlobOutOfThePageCacheIsReadBackIntoIt()
    {
        using var root = new TempDirectory("registry-warmer-");
        if (!OperatingSystem.IsLinux() || await FileSystemBlobStoreTests.FileSystemTypeAsync(root.Path) == "tmpfs")
        {
            return; // tmpfs pages are the file itself: they cannot leave the cache.
        }

        var path = WriteUncached(root.Path, "blob", (20 * MiB) + 123);
        Assert.True(await FileSystemBlobStoreTests.ResidentBytesAsync(path) < MiB);
        var warmer = new PageCacheWarmer(PageCacheHandOff.Default);

        Assert.True(warmer.TryQueue(path, (20 * MiB) + 123));
        await warmer.Drained.WaitAsync(Ct);

        Assert.Equal((20 * MiB) + 123, warmer.HandedOffBytes);
        Assert.Equal(0, warmer.PendingBytes);
        var resident = await FileSystemBlobStoreTests.ResidentBytesAsync(path);
        Assert.True(resident >= (20 * MiB) + 123, $"{resident} bytes cached after the hand-off");
    }

    [Fact]
    public async Task ADirectStoreHandsEachCommittedBlobOffAndOneWithoutTheHandOffDoesNot()
    {
        using var root = new TempDirectory("registry-warmer-");
        var off = new FileSystemBlobStore(root.Path, UploadWriteMode.Direct, PageCacheHandOff.Off);
        Assert.Null(off.Warmer);
        Assert.Null(new FileSystemBlobStore(root.Path, UploadWriteMode.Cached).Warmer);

        var store = new FileSystemBlobStore(root.Path, UploadWriteMode.Direct);
        var content = Oci.RandomBytes((5 * MiB) + 7);
        var id = Guid.NewGuid().ToString("N");
        await store.CreateUploadAsync(id, DateTimeOffset.UtcNow, Ct);
        await using (var writer = await store.OpenUploadWriterAsync(id, 0, Ct))
        {
            await writer.WriteAsync(content, Ct);
        }

        // The commit answers once the blob is in the page cache: the pull that follows finds it there.
        await store.CommitUploadAsync(id, content.Length, Oci.Digest(content), Ct);
        Assert.Equal(content.Length, store.Warmer!.HandedOffBytes);
        Assert.True(await FileSystemBlobStoreTests.ResidentBytesAsync(DataDirectory.BlobPath(root.Path, Oci.Digest(content))) >= content.Length);
    }

    [Fact]
    public async Task AChunkedUploadIsReadBehindItsWriterAndTheCommitReadsOnlyTheRest()
    {
        using var root = new TempDirectory("registry-warmer-");
        if (!OperatingSystem.IsLinux() || await FileSystemBlobStoreTests.FileSystemTypeAsync(root.Path) == "tmpfs")
        {
            return;
        }

        var store = new FileSystemBlobStore(root.Path, UploadWriteMode.Direct);
        var warmer = store.Warmer!;

        // Chunks that end inside a block: the partial block is written again by the next chunk, so
        // it is not read behind until the commit.
        var content = Oci.RandomBytes((9 * MiB) + 4096 + 100);
        var id = Guid.NewGuid().ToString("N");
        await store.CreateUploadAsync(id, DateTimeOffset.UtcNow, Ct);
        var ends = new[] { (5 * MiB) + 10, (8 * MiB) + 7000, content.Length };
        var offset = 0;
        foreach (var end in ends)
        {
            await using (var writer = await store.OpenUploadWriterAsync(id, offset, Ct))
            {
                await writer.WriteAsync(content.AsMemory(offset, end - offset), Ct);
            }

            offset = end;
        }

        await warmer.Drained.WaitAsync(Ct);
        var wholeBlocks = content.Length / 4096 * 4096;
        Assert.Equal(wholeBlocks, warmer.HandedOffBytes);
        var staged = Path.Combine(root.Path, StorageLayout.UploadDataPath(id));
        Assert.True(await FileSystemBlobStoreTests.ResidentBytesAsync(staged) >= wholeBlocks);

        // The commit reads only the last partial block, so every byte is read once.
        await store.CommitUploadAsync(id, content.Length, Oci.Digest(content), Ct);
        Assert.Equal(content.Length, warmer.HandedOffBytes);
        Assert.Equal(0, warmer.PendingBytes);
        Assert.True(await FileSystemBlobStoreTests.ResidentBytesAsync(DataDirectory.BlobPath(root.Path, Oci.Digest(content))) >= content.Length);
        Assert.Equal(content, await File.ReadAllBytesAsync(DataDirectory.BlobPath(root.Path, Oci.Digest(content)), Ct));
    }

    [Fact]
    public async Task AChunkWrittenAgainStopsTheReadingBehindAndTheCommitReadsTheWholeBlob()
    {
        using var root = new TempDirectory("registry-warmer-");
        var store = new FileSystemBlobStore(root.Path, UploadWriteMode.Direct);
        var warmer = store.Warmer!;
        var content = Oci.RandomBytes(6 * MiB);
        var id = Guid.NewGuid().ToString("N");
        await store.CreateUploadAsync(id, DateTimeOffset.UtcNow, Ct);
        foreach (var (start, end) in new[] { (0, 4 * MiB), (2 * MiB, 6 * MiB) })
        {
            // The second chunk starts again inside the first, as a client's retry may.
            await using var writer = await store.OpenUploadWriterAsync(id, start, Ct);
            await writer.WriteAsync(content.AsMemory(start, end - start), Ct);
        }

        await warmer.Drained.WaitAsync(Ct);
        var behind = warmer.HandedOffBytes;
        await store.CommitUploadAsync(id, content.Length, Oci.Digest(content), Ct);

        Assert.Equal(content.Length, warmer.HandedOffBytes - behind);
        Assert.Equal(content, await File.ReadAllBytesAsync(DataDirectory.BlobPath(root.Path, Oci.Digest(content)), Ct));
    }

    [Fact]
    public async Task AnUploadCancelledWhileReadBehindLeavesNothingQueuedForIt()
    {
        using var root = new TempDirectory("registry-warmer-");
        using var gate = new ManualResetEventSlim(false);
        var store = new FileSystemBlobStore(root.Path, UploadWriteMode.Direct);
        var warmer = store.Warmer!;
        warmer.Gate = gate;
        var id = Guid.NewGuid().ToString("N");
        await store.CreateUploadAsync(id, DateTimeOffset.UtcNow, Ct);
        await using (var writer = await store.OpenUploadWriterAsync(id, 0, Ct))
        {
            await writer.WriteAsync(Oci.RandomBytes(8 * MiB), Ct);
        }

        Assert.Equal(OperatingSystem.IsLinux() ? 8 * MiB : 0, warmer.PendingBytes);
        await store.DeleteUploadAsync(id, Ct);
        gate.Set();
        await warmer.Drained.WaitAsync(Ct);

        // Its staging went first: nothing read, nothing left pending, and a new upload of that id starts afresh.
        Assert.Equal(0, warmer.PendingBytes);
        Assert.Equal(0, warmer.HandedOffBytes);
        var (through, read) = warmer.TakeReadBehind(Path.Combine(root.Path, StorageLayout.UploadDataPath(id)));
        Assert.Equal(0, through);
        Assert.True(read.IsCompleted);
    }

    [Fact]
    public async Task ABlobAboveTheSizeBoundIsLeftToTheDisk()
    {
        using var root = new TempDirectory("registry-warmer-");
        var path = Path.Combine(root.Path, "big");
        await File.WriteAllBytesAsync(path, new byte[2 * MiB], Ct);
        var warmer = new PageCacheWarmer(new PageCacheHandOff(MiB, 4 * MiB));

        Assert.False(warmer.TryQueue(path, 2 * MiB));

        Assert.Equal(1, warmer.SkippedBlobs);
        Assert.Equal(0, warmer.PendingBytes);
        await warmer.Drained.WaitAsync(Ct);
        Assert.Equal(0, warmer.HandedOffBytes);
    }

    [Fact]
    public async Task CommitsBeyondThePendingBoundAreLeftToTheDiskAndTheRestDrainInOrder()
    {
        using var root = new TempDirectory("registry-warmer-");
        var paths = new[] { "a", "b", "c", "gone" }.Select(n => Path.Combine(root.Path, n)).ToArray();
        foreach (var path in paths)
        {
            await File.WriteAllBytesAsync(path, new byte[MiB], Ct);
        }

        using var gate = new ManualResetEventSlim(false);
        var warmer = new PageCacheWarmer(new PageCacheHandOff(MiB, 3 * MiB)) { Gate = gate };

        // The worker holds at the gate, so everything queued stays pending.
        Assert.True(warmer.TryQueue(paths[0], MiB));
        Assert.True(warmer.TryQueue(paths[3], MiB));
        Assert.True(warmer.TryQueue(paths[1], MiB));
        Assert.False(warmer.TryQueue(paths[2], MiB));
        Assert.Equal(3 * MiB, warmer.PendingBytes);
        Assert.Equal(1, warmer.SkippedBlobs);

        // Collected before its turn: skipped without a failure.
        File.Delete(paths[3]);
        var drained = warmer.Drained;
        Assert.False(drained.IsCompleted);
        gate.Set();
        await drained.WaitAsync(Ct);

        Assert.Equal(0, warmer.PendingBytes);
        Assert.Equal(2 * MiB, warmer.HandedOffBytes);

        // Room again once drained.
        Assert.True(warmer.TryQueue(paths[2], MiB));
        await warmer.Drained.WaitAsync(Ct);
        Assert.Equal(3 * MiB, warmer.HandedOffBytes);
    }

    /// <summary>Writes a file, flushes it and drops its clean pages from the page cache, as after a direct write.</summary>
    private static string WriteUncached(string directory, string name, int length)
    {
        var path = Path.Combine(directory, name);
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        file.Write(Oci.RandomBytes(length));
        file.Flush();
        DurableFiles.Flush(file.SafeFileHandle);
        Assert.Equal(0, LibC.PosixFadvise(file.SafeFileHandle, 0, 0, 4)); // POSIX_FADV_DONTNEED
        return path;
    }
}
