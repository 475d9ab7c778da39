using System.Runtime.CompilerServices;
using Azure;
using Azure.Storage.Blobs.Models;

namespace Registry.Storage;

/// <remarks>
/// Strays of the Azure driver: staged data blobs (<c>uploads/{id}/data</c>) whose upload is gone
/// (no <c>info</c> marker) and that no content address points at. They are left by a crash
/// between the two deletes of a discard or of a collection (the address goes first), or between a
/// commit's mark and its address. A committed blob's bytes live under the same name but are its
/// address's <c>target</c>, so the listing reads the addresses to tell them apart.
/// </remarks>
public sealed partial class AzureBlobStore
{
    public async IAsyncEnumerable<StrayItem> ListStraysAsync(DateTimeOffset modifiedBefore, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Every name of one upload shares the prefix uploads/{id}/, so they come together in the
        // (lexically ordered) listing: a data blob is a candidate when its group has no info marker.
        var candidates = new Dictionary<string, StrayItem>(StringComparer.Ordinal);
        string? group = null;
        StrayItem? data = null;
        var hasInfo = false;
        await foreach (var item in _container.GetBlobsAsync(new GetBlobsOptions { Prefix = StorageLayout.UploadsPrefix }, cancellationToken))
        {
            var id = UploadIdOf(item.Name);
            if (id != group)
            {
                AddCandidate();
                group = id;
                data = null;
                hasInfo = false;
            }

            if (StorageLayout.UploadIdOfDataPath(item.Name) is not null)
            {
                var modified = item.Properties.LastModified ?? DateTimeOffset.MinValue;
                data = modified < modifiedBefore
                    ? new StrayItem(item.Name, item.Properties.ContentLength ?? 0, modified, item.Properties.ETag?.ToString() ?? "")
                    : null;
            }
            else if (StorageLayout.UploadIdOfInfoPath(item.Name) is not null)
            {
                hasInfo = true;
            }
        }

        AddCandidate();
        if (candidates.Count == 0)
        {
            yield break;
        }

        // The committed blobs' bytes: every address that points at a candidate takes it off the list.
        var addresses = new GetBlobsOptions { Prefix = StorageLayout.BlobsDirectory + "/", Traits = BlobTraits.Metadata };
        await foreach (var item in _container.GetBlobsAsync(addresses, cancellationToken))
        {
            if (item.Metadata.TryGetValue(TargetKey, out var target))
            {
                candidates.Remove(target);
            }
        }

        foreach (var stray in candidates.Values.OrderBy(s => s.Name, StringComparer.Ordinal))
        {
            yield return stray;
        }

        void AddCandidate()
        {
            if (data is not null && !hasInfo)
            {
                candidates[data.Name] = data;
            }
        }
    }

    public async Task<bool> DeleteStrayIfUnchangedAsync(string name, string version, CancellationToken cancellationToken)
    {
        // "*" would match any ETag: only a version a listing gave is a condition.
        if (StorageLayout.UploadIdOfDataPath(name) is not { } uploadId || version is "" or "*")
        {
            return false;
        }

        var data = Data(uploadId);
        var condition = new BlobRequestConditions { IfMatch = new ETag(version) };
        try
        {
            if (await _container.GetBlobClient(StorageLayout.UploadInfoPath(uploadId)).ExistsAsync(cancellationToken))
            {
                return false; // an upload's staging: the upload expiry's, not a stray
            }

            var properties = (await data.GetPropertiesAsync(condition, cancellationToken)).Value;
            if (properties.Metadata.TryGetValue(DigestKey, out var digest)
                && await IsTargetOfAsync(digest, data.Name, cancellationToken))
            {
                return false; // a stored blob's bytes
            }

            // A commit marks the data blob before its address points at it, changing the ETag: so no
            // address made after the check above can point at what this deletes (and a commit in
            // flight marked it moments ago, never before a listing's cutoff).
            return (await data.DeleteIfExistsAsync(conditions: condition, cancellationToken: cancellationToken)).Value;
        }
        catch (RequestFailedException e) when (e.Status is 404 or 412)
        {
            return false;
        }
    }

    /// <summary>The <c>{id}</c> of a name <c>uploads/{id}/…</c>; null for a name of no upload.</summary>
    private static string? UploadIdOf(string name)
    {
        var end = name.IndexOf('/', StorageLayout.UploadsPrefix.Length);
        return end < 0 ? null : name[StorageLayout.UploadsPrefix.Length..end];
    }
}
