using System.Buffers;
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
/// (to rebuild a hash on another replica). A verified upload becomes visible by a server-side
/// copy to its content address, which is atomic: a blob is absent or complete.
/// </summary>
public sealed class AzureBlobStore : IBlobStore
{
    /// <summary>The most bytes staged per block (Azure allows 4000 MiB; smaller blocks bound memory).</summary>
    public const int BlockSize = 4 * 1024 * 1024;

    private const string StartedAtKey = "startedat";
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
    {
        try
        {
            var properties = await BlobFor(digest).GetPropertiesAsync(cancellationToken: cancellationToken);
            return IsComplete(properties.Value) ? properties.Value.ContentLength : null;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public async Task<Stream?> OpenReadAsync(string digest, long offset, CancellationToken cancellationToken)
    {
        try
        {
            var blob = BlobFor(digest);
            if (!IsComplete((await blob.GetPropertiesAsync(cancellationToken: cancellationToken)).Value))
            {
                return null;
            }

            return await blob.OpenReadAsync(
                new BlobOpenReadOptions(allowModifications: false) { Position = offset, BufferSize = BlockSize },
                cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
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
        => (await BlobFor(digest).DeleteIfExistsAsync(cancellationToken: cancellationToken)).Value;

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
        try
        {
            var stream = await Data(uploadId).OpenReadAsync(new BlobOpenReadOptions(allowModifications: false) { BufferSize = BlockSize }, cancellationToken);
            return new BoundedReadStream(stream, length);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new UploadUnknownException(uploadId, e);
        }
    }

    public async Task CommitUploadAsync(string uploadId, long length, string digest, CancellationToken cancellationToken)
    {
        var target = BlobFor(digest);
        if (!await IsCompleteAsync(target, cancellationToken))
        {
            var data = Data(uploadId);
            Azure.Response<BlockList> blocks;
            try
            {
                blocks = await data.GetBlockListAsync(BlockListTypes.Committed, cancellationToken: cancellationToken);
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                throw new UploadUnknownException(uploadId, e);
            }

            if (blocks.Value.BlobContentLength != length)
            {
                // More was staged than acknowledged: a writer at the length commits exactly the prefix.
                await using (await OpenUploadWriterAsync(uploadId, length, cancellationToken))
                {
                }
            }

            try
            {
                var copy = await target.StartCopyFromUriAsync(
                    data.Uri,
                    new BlobCopyFromUriOptions { DestinationConditions = new BlobRequestConditions { IfNoneMatch = ETag.All } },
                    cancellationToken);
                await copy.WaitForCompletionAsync(cancellationToken);
            }
            catch (RequestFailedException e) when (e.Status is 409 or 412)
            {
                // Another upload of the same content is copying it: wait until that copy is done,
                // so this upload is not acknowledged while the blob is incomplete.
                while (!await IsCompleteAsync(target, cancellationToken))
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
                }
            }

            if (!await IsCompleteAsync(target, cancellationToken))
            {
                throw new InvalidOperationException($"copying upload {uploadId} to {digest} did not complete");
            }
        }

        await DeleteUploadAsync(uploadId, cancellationToken);
    }

    public async Task DeleteUploadAsync(string uploadId, CancellationToken cancellationToken)
    {
        await Data(uploadId).DeleteIfExistsAsync(cancellationToken: cancellationToken);
        await _container.GetBlobClient(StorageLayout.UploadInfoPath(uploadId)).DeleteIfExistsAsync(cancellationToken: cancellationToken);
    }

    public async IAsyncEnumerable<StagedUpload> ListUploadsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var item in _container.GetBlobsAsync(new GetBlobsOptions { Prefix = StorageLayout.UploadsPrefix, Traits = BlobTraits.Metadata }, cancellationToken))
        {
            if (StorageLayout.UploadIdOfInfoPath(item.Name) is not { } id)
            {
                continue;
            }

            var startedAt = item.Metadata.TryGetValue(StartedAtKey, out var text) && long.TryParse(text, CultureInfo.InvariantCulture, out var ms)
                ? DateTimeOffset.FromUnixTimeMilliseconds(ms)
                : DateTimeOffset.MinValue;
            yield return new StagedUpload(id, startedAt);
        }
    }

    /// <summary>
    /// A server-side copy may still be running (or have failed) on real Azure: such a blob exists
    /// at its address but is not complete, and so is not visible through this driver.
    /// </summary>
    private static bool IsComplete(BlobProperties properties)
        => properties.BlobCopyStatus is null or CopyStatus.Success;

    private static async Task<bool> IsCompleteAsync(BlobClient blob, CancellationToken cancellationToken)
    {
        try
        {
            var properties = await blob.GetPropertiesAsync(cancellationToken: cancellationToken);
            if (properties.Value.BlobCopyStatus is CopyStatus.Failed or CopyStatus.Aborted)
            {
                // A failed copy leaves a blob that is not the content: remove it so a retry can copy again.
                await blob.DeleteIfExistsAsync(cancellationToken: cancellationToken);
                return false;
            }

            return IsComplete(properties.Value);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return false;
        }
    }

    /// <summary>
    /// The ids of the committed blocks that lie wholly within the first <paramref name="length"/> bytes, and
    /// where they end: <paramref name="length"/> itself, or the start of the block that <paramref name="length"/>
    /// falls inside. Null when fewer than <paramref name="length"/> bytes are staged.
    /// </summary>
    private static (List<string> Ids, long End)? Chain(IEnumerable<BlobBlock> committed, long length)
    {
        var ids = new List<string>();
        long covered = 0;
        foreach (var block in committed)
        {
            if (covered + block.SizeLong > length)
            {
                return (ids, covered);
            }

            ids.Add(block.Name);
            covered += block.SizeLong;
        }

        return covered == length ? (ids, covered) : null;
    }

    private static string BlockId(long offset)
        => Convert.ToBase64String(Encoding.ASCII.GetBytes(offset.ToString("D20", CultureInfo.InvariantCulture)));

    private BlobClient BlobFor(string digest) => _container.GetBlobClient(StorageLayout.BlobPath(digest));

    private BlockBlobClient Data(string uploadId) => _container.GetBlockBlobClient(StorageLayout.UploadDataPath(uploadId));

    /// <summary>Stages what is written as blocks named by offset; disposing commits prefix + new blocks.</summary>
    private sealed class BlockWriter(BlockBlobClient data, List<string> blocks, long offset) : WriteOnlyStreamBase
    {
        private byte[]? _buffer = ArrayPool<byte>.Shared.Rent(BlockSize);
        private int _filled;
        private long _offset = offset;

        public override void Flush()
        {
            // Blocks are staged as they fill and committed at dispose.
        }

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
        {
            var buffer = _buffer ?? throw new ObjectDisposedException(nameof(BlockWriter));
            while (!source.IsEmpty)
            {
                var n = Math.Min(source.Length, BlockSize - _filled);
                source[..n].CopyTo(buffer.AsMemory(_filled));
                _filled += n;
                source = source[n..];
                if (_filled == BlockSize)
                {
                    await StageAsync(cancellationToken);
                }
            }
        }

        /// <summary>Releases the buffer without staging or committing anything.</summary>
        public void Abandon()
        {
            if (_buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = null;
            }
        }

        public override async ValueTask DisposeAsync()
        {
            if (_buffer is null)
            {
                return;
            }

            try
            {
                await StageAsync(CancellationToken.None);
                await data.CommitBlockListAsync(blocks);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = null;
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                DisposeAsync().AsTask().GetAwaiter().GetResult();
            }

            base.Dispose(disposing);
        }

        private async Task StageAsync(CancellationToken cancellationToken)
        {
            if (_filled == 0)
            {
                return;
            }

            var id = BlockId(_offset);
            using (var content = new MemoryStream(_buffer!, 0, _filled, writable: false))
            {
                await data.StageBlockAsync(id, content, cancellationToken: cancellationToken);
            }

            blocks.Add(id);
            _offset += _filled;
            _filled = 0;
        }
    }
}
