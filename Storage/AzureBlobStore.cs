using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace Registry.Storage;

/// <summary>
/// Blobs in one Azure Blob Storage container, laid out by <see cref="StorageLayout"/> like the
/// filesystem driver: <c>blobs/{algorithm}/{xx}/{hex}</c> and <c>uploads/{id}/(info|data)</c>.
/// Upload bytes are staged as blocks of the block blob <c>uploads/{id}/data</c>, each named by
/// its offset; every finished part commits the block list, so the staged bytes can be read back
/// (to rebuild a hash on another replica).
/// </summary>
/// <remarks>
/// A verified upload is committed without copying its bytes: its data blob is marked as the
/// content of the digest (metadata, conditional on the ETag whose length was checked), and then
/// an empty blob at the content address is created, if none exists, that points at it (metadata
/// <c>target</c> and <c>length</c>). That creation is atomic, so a blob is absent or complete;
/// the loser of two commits of one digest drops its own data. Blocks can only be committed into
/// the blob they were staged on, and the digest is known only once every byte has been staged,
/// so the bytes cannot be staged at the content address itself. Blobs written whole
/// (<see cref="PutAsync"/>) and those committed by a server-side copy before this scheme are
/// stored at their address and read there.
/// </remarks>
public sealed partial class AzureBlobStore : IBlobStore
{
    /// <summary>The most bytes staged per block (Azure allows 4000 MiB; smaller blocks bound memory).</summary>
    public const int BlockSize = 4 * 1024 * 1024;

    private const string StartedAtKey = "startedat";

    /// <summary>On a content address: the blob that holds the bytes, and their number.</summary>
    private const string TargetKey = "target";
    private const string LengthKey = "length";

    /// <summary>On an upload's data blob: the digest it was committed as, and when.</summary>
    private const string DigestKey = "digest";
    private const string CommittedAtKey = "committedat";

    /// <summary>
    /// How long a data blob marked as committed but not (yet) pointed at is left alone by a discard:
    /// far longer than a commit takes between the mark and the pointer, so a discard never removes
    /// bytes a commit is about to publish; a commit that crashed in between leaves them to a later sweep.
    /// </summary>
    private static readonly TimeSpan CommitGrace = TimeSpan.FromMinutes(10);
    private readonly BlobContainerClient _container;

    public AzureBlobStore(BlobContainerClient container)
    {
        _container = container;
    }

    /// <summary>How long <see cref="IsReachableAsync"/> waits for the container's properties.</summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Creates the container when missing; call once at start.</summary>
    public Task InitializeAsync(CancellationToken cancellationToken)
        => _container.CreateIfNotExistsAsync(cancellationToken: cancellationToken);

    /// <summary>Reachable when the container's properties can be read within <see cref="ProbeTimeout"/>.</summary>
    public async Task<bool> IsReachableAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ProbeTimeout);
        try
        {
            await _container.GetPropertiesAsync(cancellationToken: timeout.Token);
            return true;
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            // Refused, unreachable, timed out or not authorized: all mean "not ready".
            return false;
        }
    }

    public async Task<long?> GetSizeAsync(string digest, CancellationToken cancellationToken)
        => (await ResolveAsync(digest, cancellationToken))?.Length;

    public async Task<Stream?> OpenReadAsync(string digest, long offset, CancellationToken cancellationToken)
    {
        if (await ResolveAsync(digest, cancellationToken) is not { } stored)
        {
            return null;
        }

        if (offset >= stored.Length)
        {
            return new MemoryStream([], writable: false);
        }

        try
        {
            // One streaming GET from the offset on, read straight into the caller's buffer: no read
            // buffer of the driver's own, so concurrent reads cost no memory here however slow their
            // clients (the SDK's stream resumes at its position if the connection breaks).
            var download = await stored.Blob.DownloadStreamingAsync(
                new BlobDownloadOptions { Range = offset > 0 ? new HttpRange(offset) : default },
                cancellationToken);
            return download.Value.Content;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            // Deleted meanwhile.
            return null;
        }
    }

    public async Task PutAsync(string digest, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        try
        {
            await BlobFor(digest).UploadAsync(
                BinaryData.FromBytes(content),
                new BlobUploadOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } },
                cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            // Already stored: content-addressed, so it is the same bytes.
        }
    }

    public async Task<bool> DeleteAsync(string digest, CancellationToken cancellationToken)
    {
        var address = BlobFor(digest);
        BlobProperties properties;
        try
        {
            properties = (await address.GetPropertiesAsync(cancellationToken: cancellationToken)).Value;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return false;
        }

        // The address first, so no reader ever finds it pointing at bytes that are gone.
        if (!(await address.DeleteIfExistsAsync(conditions: new BlobRequestConditions { IfMatch = properties.ETag }, cancellationToken: cancellationToken)).Value)
        {
            return false;
        }

        if (properties.Metadata.TryGetValue(TargetKey, out var target))
        {
            await _container.GetBlobClient(target).DeleteIfExistsAsync(cancellationToken: cancellationToken);
        }

        return true;
    }

    public async Task CreateUploadAsync(string uploadId, DateTimeOffset startedAt, CancellationToken cancellationToken)
    {
        // The listed marker first: a crash before the data blob exists leaves something the sweep finds.
        await _container.GetBlobClient(StorageLayout.UploadInfoPath(uploadId)).UploadAsync(
            BinaryData.Empty,
            new BlobUploadOptions
            {
                Metadata = new Dictionary<string, string>
                {
                    [StartedAtKey] = startedAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
                },
            },
            cancellationToken);
        await Data(uploadId).CommitBlockListAsync([], cancellationToken: cancellationToken);
    }

    public async Task<Stream> OpenUploadWriterAsync(string uploadId, long offset, CancellationToken cancellationToken)
    {
        var data = Data(uploadId);
        Azure.Response<BlockList> committed;
        try
        {
            committed = await data.GetBlockListAsync(BlockListTypes.Committed, cancellationToken: cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new UploadUnknownException(uploadId, e);
        }

        var (prefix, blockStart) = Chain(committed.Value.CommittedBlocks, offset)
            ?? throw new InvalidOperationException($"upload {uploadId} has fewer than {offset} staged bytes");
        var writer = new BlockWriter(data, prefix, blockStart);
        if (blockStart < offset)
        {
            // The offset falls inside a staged block: its head is staged again, under the same id, with what follows.
            try
            {
                var head = await data.DownloadContentAsync(
                    new BlobDownloadOptions { Range = new HttpRange(blockStart, offset - blockStart) },
                    cancellationToken);
                await writer.WriteAsync(head.Value.Content.ToMemory(), cancellationToken);
            }
            catch
            {
                writer.Abandon();
                throw;
            }
        }

        return writer;
    }

    public async Task<Stream> OpenUploadReaderAsync(string uploadId, long length, CancellationToken cancellationToken)
    {
        if (length == 0)
        {
            return new MemoryStream([], writable: false);
        }

        try
        {
            var download = await Data(uploadId).DownloadStreamingAsync(
                new BlobDownloadOptions { Range = new HttpRange(0, length) },
                cancellationToken);
            return new BoundedReadStream(download.Value.Content, length);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new UploadUnknownException(uploadId, e);
        }
        catch (RequestFailedException e) when (e.Status == 416)
        {
            // Nothing staged yet.
            return new MemoryStream([], writable: false);
        }
    }

    public async Task CommitUploadAsync(string uploadId, long length, string digest, CancellationToken cancellationToken)
    {
        var address = BlobFor(digest);
        if (!await IsCompleteAsync(address, cancellationToken))
        {
            var data = Data(uploadId);
            var adopted = await MarkCommittedAsync(uploadId, length, digest, cancellationToken);
            try
            {
                await address.UploadAsync(
                    BinaryData.Empty,
                    new BlobUploadOptions
                    {
                        Metadata = new Dictionary<string, string>
                        {
                            [TargetKey] = data.Name,
                            [LengthKey] = length.ToString(CultureInfo.InvariantCulture),
                        },
                        Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All },
                    },
                    cancellationToken);
            }
            catch (RequestFailedException e) when (e.Status is 409 or 412)
            {
                // Another upload of the same content was committed first: it is the blob, and this
                // upload's bytes are not needed (wait out a copy still running from before this scheme).
                while (!await IsCompleteAsync(address, cancellationToken))
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
                }

                await data.DeleteIfExistsAsync(cancellationToken: cancellationToken);
                await DeleteInfoAsync(uploadId, cancellationToken);
                return;
            }

            await EnsureStillThereAsync(address, data, adopted, uploadId, cancellationToken);
            await DeleteInfoAsync(uploadId, cancellationToken);
            return;
        }

        await DeleteUploadAsync(uploadId, cancellationToken);
    }

    public async Task DeleteUploadAsync(string uploadId, CancellationToken cancellationToken)
    {
        var data = Data(uploadId);
        while (true)
        {
            BlobProperties properties;
            try
            {
                properties = (await data.GetPropertiesAsync(cancellationToken: cancellationToken)).Value;
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                break;
            }

            if (properties.Metadata.TryGetValue(DigestKey, out var digest)
                && (await IsTargetOfAsync(digest, data.Name, cancellationToken) || CommittedRecently(properties)))
            {
                // The bytes of a committed blob (or of one being committed): only the marker goes.
                break;
            }

            try
            {
                await data.DeleteAsync(conditions: new BlobRequestConditions { IfMatch = properties.ETag }, cancellationToken: cancellationToken);
                break;
            }
            catch (RequestFailedException e) when (e.Status is 404 or 412)
            {
                // Changed since it was read (a part written, or a commit's mark): look again.
            }
        }

        await DeleteInfoAsync(uploadId, cancellationToken);
    }

    public async IAsyncEnumerable<StagedUpload> ListUploadsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // An upload's data blob ("…/data") is listed just before its marker ("…/info"): its
        // committed length is what the upload staged (each chunk commits its block list).
        (string Id, long Length)? data = null;
        await foreach (var item in _container.GetBlobsAsync(new GetBlobsOptions { Prefix = StorageLayout.UploadsPrefix, Traits = BlobTraits.Metadata }, cancellationToken))
        {
            if (StorageLayout.UploadIdOfDataPath(item.Name) is { } dataId)
            {
                data = (dataId, item.Properties.ContentLength ?? 0);
                continue;
            }

            if (StorageLayout.UploadIdOfInfoPath(item.Name) is not { } id)
            {
                continue;
            }

            var startedAt = item.Metadata.TryGetValue(StartedAtKey, out var text) && long.TryParse(text, CultureInfo.InvariantCulture, out var ms)
                ? DateTimeOffset.FromUnixTimeMilliseconds(ms)
                : DateTimeOffset.MinValue;
            yield return new StagedUpload(id, startedAt, data is { } d && d.Id == id ? d.Length : 0);
        }
    }

    /// <summary>Where a stored blob's bytes are and how many; null when it is not stored (or not complete).</summary>
    private async Task<StoredBlob?> ResolveAsync(string digest, CancellationToken cancellationToken)
    {
        var address = BlobFor(digest);
        BlobProperties properties;
        try
        {
            properties = (await address.GetPropertiesAsync(cancellationToken: cancellationToken)).Value;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }

        if (!IsComplete(properties))
        {
            return null;
        }

        return properties.Metadata.TryGetValue(TargetKey, out var target)
            && properties.Metadata.TryGetValue(LengthKey, out var text)
            && long.TryParse(text, CultureInfo.InvariantCulture, out var length)
            ? new StoredBlob(_container.GetBlobClient(target), length)
            : new StoredBlob(address, properties.ContentLength);
    }

    private sealed record StoredBlob(BlobClient Blob, long Length);

    private BlobClient BlobFor(string digest) => _container.GetBlobClient(StorageLayout.BlobPath(digest));

    private BlockBlobClient Data(string uploadId) => _container.GetBlockBlobClient(StorageLayout.UploadDataPath(uploadId));
}
