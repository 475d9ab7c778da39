namespace Registry.Storage;

/// <summary>The staging area of an upload is gone (cancelled or expired meanwhile).</summary>
public sealed class UploadUnknownException(string uploadId, Exception? inner = null)
    : Exception($"upload {uploadId} has no staging area", inner);

/// <summary>A staged upload found in storage; <see cref="Size"/> is what its staging area holds, in bytes.</summary>
public sealed record StagedUpload(string UploadId, DateTimeOffset StartedAt, long Size = 0);

/// <summary>
/// A stored blob as a listing finds it: <see cref="Version"/> changes whenever the blob is written or
/// touched (<see cref="IBlobStore.TouchAsync"/>), so a delete conditional on it loses to any use since.
/// </summary>
public sealed record ListedBlob(string Digest, long Size, DateTimeOffset LastModified, string Version);

/// <summary>
/// A leftover of a crash that no blob and no open upload owns (a driver's temporary file, staged
/// bytes whose upload is gone): <see cref="Name"/> is relative to the store's root, and
/// <see cref="Version"/> changes whenever it is written, like <see cref="ListedBlob.Version"/>.
/// </summary>
public sealed record StrayItem(string Name, long Size, DateTimeOffset LastModified, string Version);

/// <summary>
/// The storage driver contract: content-addressed blobs and staged uploads. One implementation
/// per backend; nothing above this interface knows which backend holds the bytes.
/// Digests are validated (<c>algorithm:hex</c>) before they reach a driver.
/// </summary>
public interface IBlobStore
{
    /// <summary>The size of a stored blob, or null when it is not stored.</summary>
    Task<long?> GetSizeAsync(string digest, CancellationToken cancellationToken);

    /// <summary>Opens a stored blob for reading from <paramref name="offset"/>; null when it is not stored.</summary>
    Task<Stream?> OpenReadAsync(string digest, long offset, CancellationToken cancellationToken);

    /// <summary>Stores a small blob (a manifest) atomically; a no-op when it is already stored.</summary>
    Task PutAsync(string digest, ReadOnlyMemory<byte> content, CancellationToken cancellationToken);

    Task<bool> DeleteAsync(string digest, CancellationToken cancellationToken);

    /// <summary>Creates an empty staging area for an upload.</summary>
    Task CreateUploadAsync(string uploadId, DateTimeOffset startedAt, CancellationToken cancellationToken);

    /// <summary>
    /// Opens a writer that stages bytes of an upload from <paramref name="offset"/> on; anything staged
    /// beyond that offset before (a failed chunk) is discarded. Staged parts need not be durable before
    /// commit: a part lost in a machine crash surfaces as a digest mismatch, never as a visible blob.
    /// Throws <see cref="UploadUnknownException"/> when the staging area does not exist.
    /// </summary>
    Task<Stream> OpenUploadWriterAsync(string uploadId, long offset, CancellationToken cancellationToken);

    /// <summary>Reads the first <paramref name="length"/> staged bytes of an upload (to rebuild a hash).</summary>
    Task<Stream> OpenUploadReaderAsync(string uploadId, long length, CancellationToken cancellationToken);

    /// <summary>
    /// Moves <paramref name="length"/> staged bytes to the blob <paramref name="digest"/> (already verified by
    /// the caller), durably, and removes the staging area. When the blob is already stored the staged copy is dropped.
    /// </summary>
    Task CommitUploadAsync(string uploadId, long length, string digest, CancellationToken cancellationToken);

    Task DeleteUploadAsync(string uploadId, CancellationToken cancellationToken);

    IAsyncEnumerable<StagedUpload> ListUploadsAsync(CancellationToken cancellationToken);

    /// <summary>Every stored blob (layers, configs, manifests), in no particular order.</summary>
    IAsyncEnumerable<ListedBlob> ListBlobsAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Records that the blob is in use right now: its <see cref="ListedBlob.LastModified"/> becomes now
    /// and its <see cref="ListedBlob.Version"/> changes. False when it is not stored. Atomic with
    /// <see cref="DeleteIfUnchangedAsync"/>: after a true answer, no delete conditional on an earlier version succeeds.
    /// </summary>
    Task<bool> TouchAsync(string digest, CancellationToken cancellationToken);

    /// <summary>Deletes the blob only when its version is still <paramref name="version"/> (from a listing); false otherwise.</summary>
    Task<bool> DeleteIfUnchangedAsync(string digest, string version, CancellationToken cancellationToken);

    /// <summary>
    /// The crash leftovers last modified before <paramref name="modifiedBefore"/>: never a stored blob's
    /// bytes, never part of an upload the upload listing still finds (garbage collection reclaims them).
    /// </summary>
    IAsyncEnumerable<StrayItem> ListStraysAsync(DateTimeOffset modifiedBefore, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes a stray a listing found, only when it is still a stray at <paramref name="version"/>;
    /// false otherwise, and for any name that is not a stray's (nothing else is ever deleted).
    /// </summary>
    Task<bool> DeleteStrayIfUnchangedAsync(string name, string version, CancellationToken cancellationToken);

    /// <summary>
    /// A cheap probe for readiness: whether the backend answers and accepts writes right now.
    /// False (not an exception) when the backend is unreachable, missing or refuses access.
    /// </summary>
    Task<bool> IsReachableAsync(CancellationToken cancellationToken);
}

/// <summary>How the filesystem driver writes an upload's bytes (<c>Registry:Uploads:WriteMode</c>; docs/storage-layout.md).</summary>
public enum UploadWriteMode
{
    /// <summary>Through the page cache, paced and left there clean: a blob just pushed is pulled from memory.</summary>
    Cached,

    /// <summary>With direct I/O (<c>O_DIRECT</c>) around the page cache: pushes do not displace what pulls have cached.</summary>
    Direct,
}
