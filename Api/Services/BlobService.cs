using System.Security.Cryptography;
using Registry.Api.Lifecycle;
using Registry.Api.Observability;
using Registry.Api.Oci;
using Registry.Grains;
using Registry.Silo;
using Registry.Storage;

namespace Registry.Api.Services;

/// <summary>The outcome of an upload step: the session's offset, or an error.</summary>
public readonly record struct UploadStep(long Offset, OciError? Error);

/// <summary>
/// Blob uploads, mounts and reads: streams bytes between HTTP and the storage driver while the
/// upload-session and repository grains keep the facts (offsets, which blobs a repository serves).
/// </summary>
/// <remarks>
/// Chunk leases name this process by its co-hosted silo (<paramref name="silo"/>), so that when the
/// process dies mid-chunk, the session lets another replica take the retried chunk.
/// </remarks>
public sealed class BlobService(
    IBlobStore store,
    UploadStaging staging,
    IGrainFactory grains,
    UploadHashes hashes,
    RegistryMetrics metrics,
    UploadMetrics uploads,
    ILocalSiloDetails silo,
    TimeProvider time,
    ILogger<BlobService> logger)
{
    private readonly Action<long> _received = metrics.BytesReceived;
    private readonly Action<long> _sent = metrics.BytesSent;

    public static string NewUploadId() => Guid.NewGuid().ToString("N");

    /// <summary>Counts blob bytes sent to clients (<c>registry.blob.bytes_sent</c>) as they go.</summary>
    public Action<long> BytesSent => _sent;

    public async Task<UploadStatus> StartUploadAsync(string name, string id)
    {
        await staging.CreateAsync(id, time.GetUtcNow(), CancellationToken.None);
        UploadStatus status;
        try
        {
            status = await grains.GetGrain<IUploadSessionGrain>(id).Start(name);
        }
        catch
        {
            await staging.DiscardAsync(id);
            throw;
        }

        uploads.Started();
        return status;
    }

    /// <summary>Stores a whole blob sent in one request, visible only when its digest matches.</summary>
    public async Task<OciError?> PutMonolithicAsync(string name, string digest, Stream body, CancellationToken ct)
    {
        var id = NewUploadId();
        try
        {
            await staging.CreateAsync(id, time.GetUtcNow(), CancellationToken.None);
            using var hash = IncrementalHash.CreateHash(References.AlgorithmOf(digest));
            long length;
            await using (var writer = await staging.OpenWriterAsync(id, 0, ct))
            {
                length = await StreamCopier.CopyAsync(body, writer, hash, long.MaxValue - 1, _received, ct);
            }

            return await CommitAsync(name, id, digest, length, hash);
        }
        catch (UploadUnknownException)
        {
            // Its staging was reclaimed as expired (or swept) while it was written: upload again.
            await staging.DiscardAsync(id);
            return OciErrorCode.BlobUploadUnknown.WithDetail("the upload was cancelled or expired");
        }
        catch
        {
            await staging.DiscardAsync(id);
            throw;
        }
    }

    /// <summary>Appends one chunk; <paramref name="start"/> null means at the end (a streamed PATCH).</summary>
    public async Task<UploadStep> AppendChunkAsync(string name, string id, long? start, long? length, Stream body, CancellationToken ct)
    {
        var session = grains.GetGrain<IUploadSessionGrain>(id);
        var lease = await session.BeginChunk(name, start, silo.SiloAddress);
        if (LeaseError(lease) is { } error)
        {
            return new UploadStep(lease.Offset, error);
        }

        var offset = lease.Offset;
        IncrementalHash? hash = null;
        try
        {
            hash = hashes.Take(id, offset) ?? await RebuildHashAsync(id, offset, HashAlgorithmName.SHA256, ct);
            var copied = await WriteAsync(id, offset, body, hash, length, ct);
            if (length is { } expected && copied != expected)
            {
                hash.Dispose();
                await session.AbortChunk();
                return new UploadStep(offset, OciErrorCode.RangeInvalid.WithDetail($"Content-Range announced {expected} bytes, the body had {(copied > expected ? "more" : copied.ToString(System.Globalization.CultureInfo.InvariantCulture))}"));
            }

            if (await session.EndChunk(offset, copied) is not { } status)
            {
                hash.Dispose();
                return new UploadStep(0, OciErrorCode.BlobUploadUnknown.WithDetail());
            }

            hashes.Put(id, status.Offset, hash);
            return new UploadStep(status.Offset, null);
        }
        catch (UploadUnknownException)
        {
            hash?.Dispose();
            await session.AbortChunk();
            return new UploadStep(offset, OciErrorCode.BlobUploadUnknown.WithDetail("the upload was cancelled or expired"));
        }
        catch
        {
            hash?.Dispose();
            await session.AbortChunk();
            throw;
        }
    }

    /// <summary>Appends an optional last chunk, verifies the digest and makes the blob visible.</summary>
    public async Task<UploadStep> FinishUploadAsync(string name, string id, string digest, bool hasBody, Stream body, CancellationToken ct)
    {
        var session = grains.GetGrain<IUploadSessionGrain>(id);
        var lease = await session.BeginChunk(name, null, silo.SiloAddress);
        if (LeaseError(lease) is { } error)
        {
            return new UploadStep(lease.Offset, error);
        }

        var algorithm = References.AlgorithmOf(digest);
        var length = lease.Offset;
        IncrementalHash? hash = null;
        try
        {
            hash = algorithm == HashAlgorithmName.SHA256 ? hashes.Take(id, length) : null;
            hashes.Forget(id);
            hash ??= await RebuildHashAsync(id, length, algorithm, ct);
            if (hasBody)
            {
                length += await WriteAsync(id, length, body, hash, null, ct);
            }

            var result = await CommitAsync(name, id, digest, length, hash);
            if (result is null)
            {
                await session.Finish();
            }
            else
            {
                await session.Cancel(name);
            }

            uploads.Ended();
            return new UploadStep(length, result);
        }
        catch (UploadUnknownException)
        {
            await session.AbortChunk();
            return new UploadStep(length, OciErrorCode.BlobUploadUnknown.WithDetail("the upload was cancelled or expired"));
        }
        catch
        {
            await session.AbortChunk();
            throw;
        }
        finally
        {
            hash?.Dispose();
        }
    }

    public async Task<bool> CancelUploadAsync(string name, string id)
    {
        hashes.Forget(id);
        if (!await grains.GetGrain<IUploadSessionGrain>(id).Cancel(name))
        {
            return false;
        }

        uploads.Ended();
        try
        {
            await staging.DiscardAsync(id);
        }
        catch (Exception e)
        {
            // The session is gone, so the next upload sweep removes the bytes; the cancel stands.
            Log.DiscardFailed(logger, e, name, id);
        }

        return true;
    }

    public ValueTask<UploadStatus?> GetUploadAsync(string name, string id)
        => grains.GetGrain<IUploadSessionGrain>(id).GetStatus(name);

    /// <summary>
    /// Lets <paramref name="name"/> serve a blob that is already stored: from <paramref name="from"/>
    /// when given (it must serve the blob), otherwise from anywhere in storage. False: not mountable;
    /// or the namespace quota's refusal.
    /// </summary>
    public async Task<(bool Mounted, OciError? Refused)> MountAsync(string name, string digest, string? from, CancellationToken ct)
    {
        var size = from is null
            ? await store.GetSizeAsync(digest, ct)
            : await grains.GetGrain<IRepositoryGrain>(from).GetBlobSize(digest);
        if (size is not { } length || (from is not null && await store.GetSizeAsync(digest, ct) is null))
        {
            return (false, null);
        }

        // Garbage collection deletes a blob only if untouched since it listed it (docs/garbage-collection.md).
        if (!await store.TouchAsync(digest, ct))
        {
            return (false, null);
        }

        OciUrls.SetEventTarget(OciUrls.Blob(name, digest));
        if (await grains.GetGrain<IRepositoryGrain>(name).MountBlob(digest, length, from) is { } refused)
        {
            return (false, refused.ToOciError());
        }

        Log.BlobMounted(logger, name, digest, from);
        return (true, null);
    }

    /// <summary>The size of a blob <paramref name="name"/> may serve, or null.</summary>
    public async Task<long?> GetBlobSizeAsync(string name, string digest)
        => await grains.GetGrain<IRepositoryGrain>(name).GetBlobSize(digest);

    public Task<Stream?> OpenBlobAsync(string digest, long offset, CancellationToken ct) => store.OpenReadAsync(digest, offset, ct);

    public Task<bool> UnlinkBlobAsync(string name, string digest) => grains.GetGrain<IRepositoryGrain>(name).UnlinkBlob(digest);

    private static OciError? LeaseError(ChunkLease lease) => lease.Grant switch
    {
        ChunkGrant.Granted => null,
        ChunkGrant.UnknownUpload => OciErrorCode.BlobUploadUnknown.WithDetail(),
        ChunkGrant.OffsetMismatch => OciErrorCode.RangeInvalid.WithDetail($"the upload has {lease.Offset} bytes; a chunk must start there"),
        _ => OciErrorCode.RangeInvalid.WithDetail("another chunk of this upload is being written"),
    };

    private async Task<long> WriteAsync(string id, long offset, Stream body, IncrementalHash hash, long? length, CancellationToken ct)
    {
        await using var writer = await staging.OpenWriterAsync(id, offset, ct);
        return await StreamCopier.CopyAsync(body, writer, hash, length ?? long.MaxValue - 1, _received, ct);
    }

    private async Task<IncrementalHash> RebuildHashAsync(string id, long length, HashAlgorithmName algorithm, CancellationToken ct)
    {
        var hash = IncrementalHash.CreateHash(algorithm);
        if (length > 0)
        {
            await using var staged = await staging.OpenReaderAsync(id, length, ct);
            await StreamCopier.HashAsync(staged, hash, ct);
        }

        return hash;
    }

    private async Task<OciError?> CommitAsync(string name, string id, string digest, long length, IncrementalHash hash)
    {
        var actual = References.Format(hash.AlgorithmName, hash.GetHashAndReset());
        if (!string.Equals(actual, digest, StringComparison.Ordinal))
        {
            Log.DigestMismatch(logger, name, id, digest, actual);
            await staging.DiscardAsync(id);
            return OciErrorCode.DigestInvalid.WithDetail($"the uploaded content has digest {actual}");
        }

        await staging.CommitAsync(id, length, digest);

        // The commit may have found the digest stored already (and dropped these bytes): the touch
        // keeps a collection that listed the old copy from deleting it (docs/garbage-collection.md).
        if (!await store.TouchAsync(digest, CancellationToken.None))
        {
            return OciErrorCode.BlobUploadUnknown.WithDetail("the stored copy of this blob was garbage-collected as the upload finished; upload it again");
        }

        OciUrls.SetEventTarget(OciUrls.Blob(name, digest));
        // A link the namespace quota refuses leaves the bytes unreferenced: garbage collection removes them.
        if (await grains.GetGrain<IRepositoryGrain>(name).LinkBlob(digest, length) is { } refused)
        {
            return refused.ToOciError();
        }

        Log.BlobCommitted(logger, name, digest, length);
        return null;
    }
}
