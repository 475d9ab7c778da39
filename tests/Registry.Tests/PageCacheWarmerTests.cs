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
