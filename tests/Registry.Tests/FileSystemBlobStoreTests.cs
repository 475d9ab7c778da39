using System.Globalization;
using Registry.Storage;

namespace Registry.Tests;

/// <summary>The storage contract over a real temporary directory, plus what only the filesystem layout shows; uploads written through the page cache (the default).</summary>
[Trait("Category", TestCategories.Fast)]
public class FileSystemBlobStoreTests : BlobStoreContract
{
    private TempDirectory? _root;

    private string Root => _root!.Path;

    protected virtual UploadWriteMode WriteMode => UploadWriteMode.Cached;

    protected override Task<IBlobStore> CreateStoreAsync()
    {
        _root = new TempDirectory("registry-blobstore-");
        return Task.FromResult<IBlobStore>(new FileSystemBlobStore(Root, WriteMode));
    }

    protected override Task<IBlobStore> OpenPeerAsync() => Task.FromResult<IBlobStore>(new FileSystemBlobStore(Root, WriteMode));

    /// <summary>A blob written aside and never renamed into place: the process died in between.</summary>
    protected override async Task<string> LeaveStrayAsync()
    {
        var name = Guid.NewGuid().ToString("N");
        await File.WriteAllBytesAsync(Path.Combine(Root, "tmp", name), Oci.RandomBytes(700), Ct);
        return "tmp/" + name;
    }

    [Fact]
    public async Task ABlobJustUploadedIsInThePageCacheForThePullsThatFollow()
    {
        // What the first pulls after a push read from: memory, whether written through the cache
        // or around it and then handed to it. Chunks of odd sizes, the last one partial, as a
        // chunked push sends them.
        var sizes = new[] { (12 << 20) + 5, (9 << 20) + 4090, 3 << 20 };
        var content = Oci.RandomBytes(sizes.Sum());
        var id = await CreateUploadAsync();
        var offset = 0;
        foreach (var size in sizes)
        {
            await StageAsync(id, offset, content.AsMemory(offset, size).ToArray());
            offset += size;
        }

        var digest = Oci.Digest(content);
        await Store.CommitUploadAsync(id, content.Length, digest, Ct);
        var warmer = ((FileSystemBlobStore)Store).Warmer;
        Assert.Equal(WriteMode == UploadWriteMode.Direct, warmer is not null);
        if (warmer is not null)
        {
            await warmer.Drained.WaitAsync(Ct);
            Assert.Equal(0, warmer.PendingBytes);
        }

        // Whole pages: the last one counts in full.
        var resident = await ResidentBytesAsync(DataDirectory.BlobPath(Root, digest));
        Assert.True(resident >= content.Length, $"{resident} of {content.Length} bytes of a blob just committed are cached");
        Assert.Equal(content, await ReadBlobAsync(digest, 0));
    }

    /// <summary>How much of the file is in the page cache, as fincore (util-linux) counts it.</summary>
    internal static async Task<long> ResidentBytesAsync(string path)
    {
        var result = await ProcessRunner.RunAsync("fincore", ["--bytes", "--noheadings", "--output", "RES", path], TimeSpan.FromSeconds(30));
        Assert.True(result.ExitCode == 0, result.Describe());
        return long.Parse(result.StdoutText.Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>tmpfs has no direct I/O: there the driver writes through the cache whatever the mode.</summary>
    internal static async Task<string> FileSystemTypeAsync(string path)
        => (await ProcessRunner.RunAsync("stat", ["--file-system", "--format", "%T", path], TimeSpan.FromSeconds(30))).StdoutText.Trim();

    protected override Task DeleteStoreAsync()
    {
        _root?.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public void AFlushTheDiskRefusesIsAnError()
    {
        // fsync of a character device fails (EINVAL), as one of a failing disk would (EIO, ENOSPC);
        // FileStream.Flush(true) would return normally here.
        using var device = File.OpenHandle("/dev/null", FileMode.Open, FileAccess.Write);
        var refused = Assert.Throws<IOException>(() => DurableFiles.Flush(device));
        Assert.Contains("fsync failed", refused.Message, StringComparison.Ordinal);

        Assert.Throws<DirectoryNotFoundException>(() => DurableFiles.FlushDirectory(Path.Combine(Root, "no-such-directory")));
    }

    [Fact]
    public void CreatingADirectoryCreatesItsMissingParents()
    {
        var nested = Path.Combine(Root, "a", "b", "c");
        DurableFiles.CreateDirectory(nested);
        Assert.True(Directory.Exists(nested));
        DurableFiles.CreateDirectory(nested);
        DurableFiles.FlushDirectory(nested);
    }

    [Fact]
    public async Task AnUploadExpiredDuringItsCommitIsUnknownUnlessItsBlobIsStored()
    {
        var content = Oci.RandomBytes(10_000);
        var digest = Oci.Digest(content);

        // Staging gone before the rename: nothing to publish, the upload is unknown.
        var early = await CreateUploadAsync();
        await StageAsync(early, 0, content);
        await Store.DeleteUploadAsync(early, Ct);
        await Assert.ThrowsAsync<UploadUnknownException>(() => Store.CommitUploadAsync(early, content.Length, digest, Ct));
        Assert.Null(await Store.GetSizeAsync(digest, Ct));

        // Staging gone once the blob is stored (here by another upload of the same bytes): the
        // verified blob stands, and the commit succeeds.
        var first = await CreateUploadAsync();
        await StageAsync(first, 0, content);
        await Store.CommitUploadAsync(first, content.Length, digest, Ct);
        var late = await CreateUploadAsync();
        await StageAsync(late, 0, content);
        await Store.DeleteUploadAsync(late, Ct);
        await Store.CommitUploadAsync(late, content.Length, digest, Ct);
        await Store.DeleteUploadAsync(late, Ct);
        Assert.Equal(content, await File.ReadAllBytesAsync(DataDirectory.BlobPath(Root, digest), Ct));
    }

    [Fact]
    public async Task NoPartialFileIsVisibleUnderBlobsWhileAnUploadIsWritten()
    {
        var content = Oci.RandomBytes(3 << 20);
        var digest = Oci.Digest(content);
        var id = await CreateUploadAsync();

        await using (var writer = await Store.OpenUploadWriterAsync(id, 0, Ct))
        {
            await writer.WriteAsync(content.AsMemory(0, 1 << 20), Ct);
            await writer.FlushAsync(Ct);
            Assert.Empty(DataDirectory.Files(Path.Combine(Root, "blobs")));
            await writer.WriteAsync(content.AsMemory(1 << 20), Ct);
        }

        Assert.Empty(DataDirectory.Files(Path.Combine(Root, "blobs")));
        await Store.CommitUploadAsync(id, content.Length, digest, Ct);

        var file = Assert.Single(DataDirectory.Files(Path.Combine(Root, "blobs")));
        Assert.Equal(DataDirectory.BlobPath(Root, digest), Path.Combine(Root, "blobs", file));
        Assert.Equal(content.Length, new FileInfo(DataDirectory.BlobPath(Root, digest)).Length);
    }

    [Fact]
    public async Task MoreUploadsAtOnceThanAreWrittenDirectlyAllStoreTheirBytes()
    {
        // 24 writers open together: at most 8 write with direct I/O, the others buffered. Each
        // starts mid-block and ends with a partial block, the cases direct I/O must handle.
        const int uploads = 24;
        var contents = Enumerable.Range(0, uploads).Select(i => Oci.RandomBytes((5 << 20) + (i * 1000) + 17)).ToArray();
        var ids = new string[uploads];
        var writers = new Stream[uploads];
        for (var i = 0; i < uploads; i++)
        {
            ids[i] = await CreateUploadAsync();
            await StageAsync(ids[i], 0, contents[i].AsMemory(0, 1001).ToArray());
            writers[i] = await Store.OpenUploadWriterAsync(ids[i], 1001, Ct);
        }

        for (var i = 0; i < uploads; i++)
        {
            await writers[i].WriteAsync(contents[i].AsMemory(1001), Ct);
        }

        for (var i = 0; i < uploads; i++)
        {
            await writers[i].DisposeAsync();
            await Store.CommitUploadAsync(ids[i], contents[i].Length, Oci.Digest(contents[i]), Ct);
            Assert.Equal(contents[i], await File.ReadAllBytesAsync(DataDirectory.BlobPath(Root, Oci.Digest(contents[i])), Ct));
        }
    }

    [Fact]
    public async Task AnUploadArrivingSlowerThanTheDiskWritesStoresItsBytes()
    {
        // Each 4 MiB piece is handed over only when the previous one is in the file, as when the
        // network is the slower side: the writer then flushes the device cache between writes
        // (every 16 MiB). The upload starts mid-block and ends with a partial block.
        var content = Oci.RandomBytes((40 << 20) + 123);
        var id = await CreateUploadAsync();
        await StageAsync(id, 0, content.AsMemory(0, 777).ToArray());
        var data = Path.Combine(Root, "uploads", id, "data");
        const int piece = 4 << 20;
        await using (var writer = await Store.OpenUploadWriterAsync(id, 777, Ct))
        {
            for (var offset = 777; offset < content.Length; offset += piece)
            {
                var length = Math.Min(piece, content.Length - offset);
                await writer.WriteAsync(content.AsMemory(offset, length), Ct);
                var handedOver = (offset + length) / piece * piece;
                await Eventually.HoldsAsync(() => new FileInfo(data).Length >= handedOver, $"the first {handedOver} bytes are in the file");
            }
        }

        await Store.CommitUploadAsync(id, content.Length, Oci.Digest(content), Ct);
        Assert.Equal(content, await File.ReadAllBytesAsync(DataDirectory.BlobPath(Root, Oci.Digest(content)), Ct));
    }

    [Fact]
    public async Task ChunksWrittenWhileEarlierChunksAreFlushedStoreTheirBytes()
    {
        // Every chunk after the first flushes the device cache of the earlier ones while its own
        // bytes are written; each starts inside the block the previous one ended in, and the
        // upload is committed right after the last. Reading the staged bytes mid-way sees every chunk.
        var sizes = new[] { (8 << 20) + 5, (4 << 20) + 4090, 9 << 20, (6 << 20) + 1 };
        var content = Oci.RandomBytes(sizes.Sum());
        var id = await CreateUploadAsync();
        var offset = 0;
        foreach (var size in sizes)
        {
            await StageAsync(id, offset, content.AsMemory(offset, size).ToArray());
            offset += size;
            Assert.Equal(content[..offset], await ReadStagedAsync(id, offset));
        }

        await Store.CommitUploadAsync(id, content.Length, Oci.Digest(content), Ct);
        Assert.Equal(content, await File.ReadAllBytesAsync(DataDirectory.BlobPath(Root, Oci.Digest(content)), Ct));
        Assert.Empty(DataDirectory.Entries(Path.Combine(Root, "uploads")));
    }

    [Fact]
    public async Task BlobFilesAppearOnlyWhole()
    {
        // Watches blobs/ while large blobs are put and committed: any file seen there must be complete.
        var contents = Enumerable.Range(0, 6).Select(_ => Oci.RandomBytes(4 << 20)).ToArray();
        var sizes = contents.ToDictionary(c => Path.GetFileName(DataDirectory.BlobPath(Root, Oci.Digest(c))), c => (long)c.Length);
        var ids = new List<string>();
        for (var i = 3; i < contents.Length; i++)
        {
            var id = await CreateUploadAsync();
            await StageAsync(id, 0, contents[i]);
            ids.Add(id);
        }

        var writers = Task.Run(async () =>
        {
            for (var i = 0; i < 3; i++)
            {
                await Store.PutAsync(Oci.Digest(contents[i]), contents[i], Ct);
            }

            for (var i = 3; i < contents.Length; i++)
            {
                await Store.CommitUploadAsync(ids[i - 3], contents[i].Length, Oci.Digest(contents[i]), Ct);
            }
        });

        var blobs = Path.Combine(Root, "blobs");
        while (!writers.IsCompleted)
        {
            foreach (var file in Directory.EnumerateFiles(blobs, "*", SearchOption.AllDirectories))
            {
                long length;
                try
                {
                    length = new FileInfo(file).Length;
                }
                catch (FileNotFoundException)
                {
                    continue;
                }

                Assert.True(sizes.TryGetValue(Path.GetFileName(file), out var expected), $"unexpected file {file} under blobs/");
                Assert.Equal(expected, length);
            }

            await Task.Yield();
        }

        await writers.WithinAsync();
        Assert.Equal(contents.Length, DataDirectory.Files(blobs).Length);
        foreach (var content in contents)
        {
            Assert.Equal(content.Length, new FileInfo(DataDirectory.BlobPath(Root, Oci.Digest(content))).Length);
        }
    }

    [Fact]
    public async Task CommitOfAnExistingBlobLeavesExactlyOneFile()
    {
        var content = Oci.RandomBytes(100_000);
        var digest = Oci.Digest(content);
        await Store.PutAsync(digest, content, Ct);
        var before = new FileInfo(DataDirectory.BlobPath(Root, digest)).LastWriteTimeUtc;
        var id = await CreateUploadAsync();
        await StageAsync(id, 0, content);

        await Store.CommitUploadAsync(id, content.Length, digest, Ct);

        var file = Assert.Single(DataDirectory.Files(Path.Combine(Root, "blobs")));
        Assert.Equal(DataDirectory.BlobPath(Root, digest), Path.Combine(Root, "blobs", file));
        Assert.Equal(before, new FileInfo(DataDirectory.BlobPath(Root, digest)).LastWriteTimeUtc);
        Assert.Empty(DataDirectory.Entries(Path.Combine(Root, "uploads")));
        Assert.Empty(DataDirectory.Entries(Path.Combine(Root, "tmp")));
    }

    [Fact]
    public async Task NoTemporaryFilesAreLeftAfterPutsCommitsAndDeletes()
    {
        var expected = new Dictionary<string, long>(StringComparer.Ordinal);
        void Expect(byte[] content) => expected[DataDirectory.BlobPath(Root, Oci.Digest(content))] = content.Length;

        // Puts, including repeated and concurrent ones.
        var put = Oci.RandomBytes(20_000);
        await Store.PutAsync(Oci.Digest(put), put, Ct);
        await Store.PutAsync(Oci.Digest(put), put, Ct);
        var raced = Oci.RandomBytes(1 << 20);
        await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => Store.PutAsync(Oci.Digest(raced), raced, Ct)))).WithinAsync();
        Expect(put);
        Expect(raced);

        // Commits: a plain one, one with a failed chunk retried, one of an existing blob, a prefix of what was staged.
        var plain = Oci.RandomBytes(70_000);
        var id = await CreateUploadAsync();
        await StageAsync(id, 0, plain[..30_000]);
        await StageAsync(id, 30_000, plain[30_000..]);
        await Store.CommitUploadAsync(id, plain.Length, Oci.Digest(plain), Ct);
        Expect(plain);

        var retried = Oci.RandomBytes(9000);
        id = await CreateUploadAsync();
        await StageAsync(id, 0, retried[..4000]);
        await StageAsync(id, 4000, Oci.RandomBytes(8000));
        await StageAsync(id, 4000, retried[4000..]);
        await Store.CommitUploadAsync(id, retried.Length, Oci.Digest(retried), Ct);
        Expect(retried);

        id = await CreateUploadAsync();
        await StageAsync(id, 0, put);
        await Store.CommitUploadAsync(id, put.Length, Oci.Digest(put), Ct);

        var prefix = Oci.RandomBytes(6000);
        id = await CreateUploadAsync();
        await StageAsync(id, 0, prefix);
        await Store.CommitUploadAsync(id, 5000, Oci.Digest(prefix[..5000]), Ct);
        Expect(prefix[..5000]);

        // Concurrent commits of one blob.
        var shared = Oci.RandomBytes(1 << 20);
        var ids = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            ids.Add(await CreateUploadAsync());
            await StageAsync(ids[^1], 0, shared);
        }

        await Task.WhenAll(ids.Select(u => Task.Run(() => Store.CommitUploadAsync(u, shared.Length, Oci.Digest(shared), Ct)))).WithinAsync();
        Expect(shared);

        // An abandoned upload.
        id = await CreateUploadAsync();
        await StageAsync(id, 0, Oci.RandomBytes(1000));
        await Store.DeleteUploadAsync(id, Ct);

        var files = Directory.EnumerateFiles(Root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), files);
        foreach (var (path, length) in expected)
        {
            Assert.Equal(length, new FileInfo(path).Length);
        }

        Assert.Empty(DataDirectory.Entries(Path.Combine(Root, "uploads")));
        Assert.Empty(DataDirectory.Entries(Path.Combine(Root, "tmp")));
    }
}

/// <summary>The same tests with uploads written with direct I/O, around the page cache (<c>Registry:Uploads:WriteMode=Direct</c>).</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class DirectFileSystemBlobStoreTests : FileSystemBlobStoreTests
{
    protected override UploadWriteMode WriteMode => UploadWriteMode.Direct;
}
