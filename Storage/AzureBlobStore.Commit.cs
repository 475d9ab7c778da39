using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace Registry.Storage;

/// <summary>How a verified upload becomes the content of its digest without a copy (see the class remarks).</summary>
public sealed partial class AzureBlobStore
{
    /// <summary>
    /// Checks that exactly <paramref name="length"/> bytes are committed in the upload's data blob
    /// (cutting off any staged beyond) and marks it as the content of <paramref name="digest"/>, on
    /// condition that it is unchanged since its length was checked. Returns the marked blob's ETag.
    /// </summary>
    private async Task<ETag> MarkCommittedAsync(string uploadId, long length, string digest, CancellationToken cancellationToken)
    {
        var data = Data(uploadId);
        try
        {
            var properties = (await data.GetPropertiesAsync(cancellationToken: cancellationToken)).Value;
            if (properties.ContentLength != length)
            {
                // More was staged than acknowledged: a writer at the length commits exactly the prefix.
                await using (await OpenUploadWriterAsync(uploadId, length, cancellationToken))
                {
                }

                properties = (await data.GetPropertiesAsync(cancellationToken: cancellationToken)).Value;
                if (properties.ContentLength != length)
                {
                    throw new InvalidOperationException($"upload {uploadId} holds {properties.ContentLength} bytes, not the {length} committed");
                }
            }

            var marked = await data.SetMetadataAsync(
                new Dictionary<string, string>
                {
                    [DigestKey] = digest,
                    [CommittedAtKey] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
                },
                new BlobRequestConditions { IfMatch = properties.ETag },
                cancellationToken);
            return marked.Value.ETag;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new UploadUnknownException(uploadId, e);
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            throw new InvalidOperationException($"upload {uploadId} changed while it was being committed", e);
        }
    }

    /// <summary>
    /// After the address was created: its bytes must still be the ones marked (a discard waits
    /// <see cref="CommitGrace"/> before removing marked bytes, and a commit this slow is broken).
    /// If not, the address is removed again, so it never stays pointing at nothing.
    /// </summary>
    private static async Task EnsureStillThereAsync(BlobClient address, BlockBlobClient data, ETag marked, string uploadId, CancellationToken cancellationToken)
    {
        try
        {
            await data.GetPropertiesAsync(new BlobRequestConditions { IfMatch = marked }, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status is 404 or 412)
        {
            await address.DeleteIfExistsAsync(cancellationToken: CancellationToken.None);
            throw new UploadUnknownException(uploadId, e);
        }
    }

    private async Task<bool> IsTargetOfAsync(string digest, string dataName, CancellationToken cancellationToken)
    {
        try
        {
            var properties = await BlobFor(digest).GetPropertiesAsync(cancellationToken: cancellationToken);
            return properties.Value.Metadata.TryGetValue(TargetKey, out var target) && target == dataName;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return false;
        }
        catch (ArgumentException)
        {
            // Not a digest this driver wrote.
            return false;
        }
    }

    private static bool CommittedRecently(BlobProperties properties)
        => properties.Metadata.TryGetValue(CommittedAtKey, out var text)
            && long.TryParse(text, CultureInfo.InvariantCulture, out var ms)
            && DateTimeOffset.UtcNow - DateTimeOffset.FromUnixTimeMilliseconds(ms) < CommitGrace;

    private Task DeleteInfoAsync(string uploadId, CancellationToken cancellationToken)
        => _container.GetBlobClient(StorageLayout.UploadInfoPath(uploadId)).DeleteIfExistsAsync(cancellationToken: cancellationToken);

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
}
