using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using Registry.Storage;

namespace Registry.Tests;

/// <summary>
/// The filesystem driver's blob reads (docs/storage-layout.md, Reads): whether the page cache holds
/// a blob, part of it or none of it (as after a push written with direct I/O), every byte is read,
/// and what was read stays cached for the next puller.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class BlobReadTests : IDisposable
{
    private static readonly CancellationToken Ct = CancellationToken.None;

    private readonly TempDirectory _root = new("registry-blobread-");

    public void Dispose() => _root.Dispose();

    [Fact]
    public async Task ABlobEvictedFromThePageCacheIsReadWholeAndLeftCached()
    {
        var store = new FileSystemBlobStore(_root.Path, UploadWriteMode.Direct);
        var content = Oci.RandomBytes((6 << 20) + 123);
        var digest = Oci.Digest(content);
        await store.PutAsync(digest, content, Ct);
        var path = DataDirectory.BlobPath(_root.Path, digest);
        var evictable = await PageCache.EvictAsync(path);

        if (evictable)
        {
            Assert.True(await PageCache.ResidentBytesAsync(path) < 1 << 20, "the blob was evicted");
        }

        await using (var stream = (await store.OpenReadAsync(digest, 0, Ct))!)
        {
            Assert.Equal(content, await ReadAllAsync(stream, 64 * 1024));
        }

        // Read through the cache, not around it: the next pullers read from memory.
        Assert.True(await PageCache.ResidentBytesAsync(path) >= content.Length, "the blob read is cached");
    }

    [Theory]
    [InlineData(64 * 1024)]
    [InlineData(1000)]
    [InlineData(1 << 20)]
    public async Task ReadsFromAnyOffsetOfAPartlyCachedBlobAreByteExact(int bufferSize)
    {
        var store = new FileSystemBlobStore(_root.Path);
        var content = Oci.RandomBytes((5 << 20) + 4097);
        var digest = Oci.Digest(content);
        await store.PutAsync(digest, content, Ct);
        var path = DataDirectory.BlobPath(_root.Path, digest);

        foreach (var offset in new long[] { 0, 1, 4095, (2 << 20) - 1, (3 << 20) + 7, content.Length - 1, content.Length, content.Length + 10 })
        {
            // Only the middle cached: reads start and end in cached and uncached stretches.
            await PageCache.EvictAsync(path);
            await using (var partial = new FileStream(path, FileMode.Open, FileAccess.Read))
            {
                partial.Position = 2 << 20;
                partial.ReadExactly(new byte[1 << 20]);
            }

            await using var stream = (await store.OpenReadAsync(digest, offset, Ct))!;
            var expected = content.AsSpan((int)Math.Min(offset, content.Length)).ToArray();
            Assert.Equal(expected, await ReadAllAsync(stream, bufferSize));
        }
    }

    [Fact]
    public async Task SynchronousReadsGetTheSameBytes()
    {
        var store = new FileSystemBlobStore(_root.Path);
        var content = Oci.RandomBytes((3 << 20) + 17);
        var digest = Oci.Digest(content);
        await store.PutAsync(digest, content, Ct);
        await PageCache.EvictAsync(DataDirectory.BlobPath(_root.Path, digest));

        await using var stream = (await store.OpenReadAsync(digest, 100, Ct))!;
        using var copy = new MemoryStream();
        stream.CopyTo(copy, 100_000);
        Assert.Equal(content[100..], copy.ToArray());
    }

    [Fact]
    public async Task AnEvictedBlobIsServedWholeAndInRangesAndHeadAnd416AreUnchanged()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("blobread");
        var content = Oci.RandomBytes((9 << 20) + 4321);
        var digest = await host.Client.PushBlobAsync(name, content);
        var path = DataDirectory.BlobPath(host.DataDirectory, digest);
        var url = $"/v2/{name}/blobs/{digest}";

        await PageCache.EvictAsync(path);
        using (var whole = await host.Client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, whole.StatusCode);
            Assert.Equal(content.Length, whole.Content.Headers.ContentLength);
            await using var body = await whole.Content.ReadAsStreamAsync(Ct);
            Assert.Equal(digest, "sha256:" + Convert.ToHexStringLower(await SHA256.HashDataAsync(body, Ct)));
        }

        // Ranges that start and end inside send windows and pages, each read cold.
        foreach (var (range, start, end) in new[]
        {
            ("bytes=1000-2099999", 1000, 2099999),
            ($"bytes={(4 << 20) - 3}-", (4 << 20) - 3, content.Length - 1),
            ("bytes=-70000", content.Length - 70000, content.Length - 1),
            ("bytes=0-0", 0, 0),
        })
        {
            await PageCache.EvictAsync(path);
            using var partial = await host.Client.SendAsync(HttpMethod.Get, url, null, ("Range", range));
            Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
            Assert.Equal(content[start..(end + 1)], await partial.Content.ReadAsByteArrayAsync(Ct));
            Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"bytes {start}-{end}/{content.Length}"), partial.Content.Headers.ContentRange!.ToString());
        }

        await PageCache.EvictAsync(path);
        using (var head = await host.Client.SendAsync(HttpMethod.Head, url, null))
        {
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
            Assert.Equal(content.Length, head.Content.Headers.ContentLength);
            Assert.Equal(digest, head.Header("Docker-Content-Digest"));
            Assert.Empty(await head.Content.ReadAsByteArrayAsync(Ct));
        }

        using var beyond = await host.Client.SendAsync(HttpMethod.Get, url, null, ("Range", $"bytes={content.Length}-"));
        await beyond.AssertErrorAsync(HttpStatusCode.RequestedRangeNotSatisfiable, "RANGE_INVALID");
        Assert.Equal($"bytes */{content.Length}", beyond.Content.Headers.ContentRange?.ToString() ?? beyond.Header("Content-Range"));
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream, int bufferSize)
    {
        using var all = new MemoryStream();
        var buffer = new byte[bufferSize];
        int read;
        while ((read = await stream.ReadAsync(buffer, Ct)) > 0)
        {
            all.Write(buffer, 0, read);
        }

        return all.ToArray();
    }
}

/// <summary>What of a file the page cache holds, and dropping it from there, with the tools an operator would use.</summary>
internal static class PageCache
{
    /// <summary>
    /// Drops the file's pages from the page cache (GNU dd's documented idiom); false when the
    /// filesystem keeps them regardless (tmpfs, where a file lives only in the cache).
    /// </summary>
    public static async Task<bool> EvictAsync(string path)
    {
        var result = await ProcessRunner.RunAsync("dd", [$"of={path}", "oflag=nocache", "conv=notrunc,fdatasync", "count=0", "status=none"], TimeSpan.FromSeconds(30));
        Assert.True(result.ExitCode == 0, result.Describe());
        var type = await ProcessRunner.RunAsync("stat", ["--file-system", "--format", "%T", path], TimeSpan.FromSeconds(30));
        return type.StdoutText.Trim() != "tmpfs";
    }

    /// <summary>How much of the file is in the page cache, as fincore (util-linux) counts it.</summary>
    public static async Task<long> ResidentBytesAsync(string path)
    {
        var result = await ProcessRunner.RunAsync("fincore", ["--bytes", "--noheadings", "--output", "RES", path], TimeSpan.FromSeconds(30));
        Assert.True(result.ExitCode == 0, result.Describe());
        return long.Parse(result.StdoutText.Trim(), CultureInfo.InvariantCulture);
    }
}
