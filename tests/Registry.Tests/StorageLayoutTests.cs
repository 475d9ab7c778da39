using Registry.Storage;

namespace Registry.Tests;

/// <summary>
/// The names both storage drivers use. They are what stored data is found by, so the expected
/// values are spelled out here rather than derived: changing one fails a test.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class StorageLayoutTests
{
    private const string Sha256Hex = "3f9a0c1b2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8fc1";

    [Fact]
    public void BlobsFanOutByTheFirstTwoHexDigitsUnderTheirAlgorithm()
    {
        Assert.Equal($"blobs/sha256/3f/{Sha256Hex}", StorageLayout.BlobPath($"sha256:{Sha256Hex}"));
        var sha512Hex = string.Concat(Enumerable.Repeat("8d41", 32));
        Assert.Equal($"blobs/sha512/8d/{sha512Hex}", StorageLayout.BlobPath($"sha512:{sha512Hex}"));
    }

    [Fact]
    public void AnUploadIsOneDirectoryNamedByItsId()
    {
        const string id = "0123456789abcdef0123456789abcdef";
        Assert.Equal($"uploads/{id}", StorageLayout.UploadDirectory(id));
        Assert.Equal($"uploads/{id}/data", StorageLayout.UploadDataPath(id));
        Assert.Equal($"uploads/{id}/startedat", StorageLayout.UploadStartedAtPath(id));
        Assert.Equal($"uploads/{id}/info", StorageLayout.UploadInfoPath(id));
        Assert.Equal("tmp", StorageLayout.TempDirectory);
    }

    [Fact]
    public void OnlyAnUploadsInfoNameYieldsAnUploadId()
    {
        Assert.Equal("abc", StorageLayout.UploadIdOfInfoPath(StorageLayout.UploadInfoPath("abc")));
        Assert.Null(StorageLayout.UploadIdOfInfoPath("uploads/abc/data"));
        Assert.Null(StorageLayout.UploadIdOfInfoPath($"blobs/sha256/3f/{Sha256Hex}"));
        Assert.Null(StorageLayout.UploadIdOfInfoPath("uploads/info"));
        Assert.Null(StorageLayout.UploadIdOfInfoPath("uploads//info"));
    }

    [Fact]
    public void UnderPlacesANameBelowADirectory()
        => Assert.Equal(Path.Combine("/data", "blobs", "sha256", "3f", Sha256Hex), StorageLayout.Under("/data", StorageLayout.BlobPath($"sha256:{Sha256Hex}")));

    [Fact]
    public async Task TheFileSystemDriverWritesExactlyTheDocumentedFiles()
    {
        using var root = new TempDirectory();
        var store = new FileSystemBlobStore(root.Path);
        var blob = Oci.RandomBytes(100);
        var staged = Oci.RandomBytes(300);
        using var timeout = Bounded.Token();
        var ct = timeout.Token;
        await store.PutAsync(Oci.Digest(blob), blob, ct);
        const string id = "0123456789abcdef0123456789abcdef";
        await store.CreateUploadAsync(id, DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123), ct);
        await using (var writer = await store.OpenUploadWriterAsync(id, 0, ct))
        {
            await writer.WriteAsync(staged, ct);
        }

        var hex = Oci.Digest(blob)["sha256:".Length..];
        Assert.Equal(
            ["blobs", "blobs/sha256", $"blobs/sha256/{hex[..2]}", $"blobs/sha256/{hex[..2]}/{hex}", "tmp", "uploads", $"uploads/{id}", $"uploads/{id}/data", $"uploads/{id}/startedat"],
            DataDirectory.Entries(root.Path));
        Assert.Equal(blob, await File.ReadAllBytesAsync(Path.Combine(root.Path, "blobs", "sha256", hex[..2], hex), ct));
        Assert.Equal(staged, await File.ReadAllBytesAsync(Path.Combine(root.Path, "uploads", id, "data"), ct));
        Assert.Equal("1700000000123", await File.ReadAllTextAsync(Path.Combine(root.Path, "uploads", id, "startedat"), ct));
    }
}
