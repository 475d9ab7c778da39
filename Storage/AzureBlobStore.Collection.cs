using System.Globalization;
using System.Runtime.CompilerServices;
using Azure;
using Azure.Storage.Blobs.Models;

namespace Registry.Storage;

/// <remarks>
/// What garbage collection needs. The version is the address blob's ETag: a touch rewrites the
/// address's metadata (new ETag, new Last-Modified) on condition of the ETag it read, and a
/// collection deletes the address on condition of the ETag its listing saw, so the two are atomic
/// against each other across replicas. The data blob behind an address goes after the address.
/// </remarks>
public sealed partial class AzureBlobStore
{
    private const string TouchedAtKey = "touchedat";

    public async IAsyncEnumerable<ListedBlob> ListBlobsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var options = new GetBlobsOptions { Prefix = StorageLayout.BlobsDirectory + "/", Traits = BlobTraits.Metadata };
        await foreach (var item in _container.GetBlobsAsync(options, cancellationToken))
        {
            if (StorageLayout.DigestOfBlobPath(item.Name) is not { } digest
                || item.Properties.CopyStatus is not (null or CopyStatus.Success))
            {
                continue;
            }

            var size = item.Metadata.TryGetValue(LengthKey, out var text) && long.TryParse(text, CultureInfo.InvariantCulture, out var length)
                ? length
                : item.Properties.ContentLength ?? 0;
            yield return new ListedBlob(digest, size, item.Properties.LastModified ?? DateTimeOffset.MinValue, item.Properties.ETag?.ToString() ?? "");
        }
    }

    public async Task<bool> TouchAsync(string digest, CancellationToken cancellationToken)
    {
        var address = BlobFor(digest);
        while (true)
        {
            BlobProperties properties;
            try
            {
                properties = (await address.GetPropertiesAsync(cancellationToken: cancellationToken)).Value;
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                return false;
            }

            var metadata = new Dictionary<string, string>(properties.Metadata, StringComparer.OrdinalIgnoreCase)
            {
                [TouchedAtKey] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
            };
            try
            {
                await address.SetMetadataAsync(metadata, new BlobRequestConditions { IfMatch = properties.ETag }, cancellationToken);
                return true;
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                return false;
            }
            catch (RequestFailedException e) when (e.Status == 412)
            {
                // Touched by another replica meanwhile (or deleted): read it again.
            }
        }
    }

    public async Task<bool> DeleteIfUnchangedAsync(string digest, string version, CancellationToken cancellationToken)
    {
        var address = BlobFor(digest);
        var condition = new BlobRequestConditions { IfMatch = new ETag(version) };
        BlobProperties properties;
        try
        {
            properties = (await address.GetPropertiesAsync(condition, cancellationToken)).Value;
            if (!(await address.DeleteIfExistsAsync(conditions: condition, cancellationToken: cancellationToken)).Value)
            {
                return false;
            }
        }
        catch (RequestFailedException e) when (e.Status is 404 or 412)
        {
            return false;
        }

        if (properties.Metadata.TryGetValue(TargetKey, out var target))
        {
            await _container.GetBlobClient(target).DeleteIfExistsAsync(cancellationToken: cancellationToken);
        }

        return true;
    }
}
