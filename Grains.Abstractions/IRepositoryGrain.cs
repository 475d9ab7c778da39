using Orleans.Concurrency;

namespace Registry.Grains;

/// <summary>
/// One repository ("image stream"), keyed by its full name. It owns the tags and their history,
/// the manifests, the blobs the repository may serve and the referrers; every mutation of them
/// is serialized here and durable before it is acknowledged.
/// </summary>
[Alias("registry.repository")]
public interface IRepositoryGrain : IGrainWithStringKey
{
    /// <summary>Accepts a manifest when everything it references is present, and moves the tag if one is given.</summary>
    [Alias("put-manifest")]
    Task<ManifestPushResult> PutManifest(ManifestPush push);

    [ReadOnly, Alias("resolve-tag")]
    ValueTask<ManifestDescriptor?> ResolveTag(string tag);

    [ReadOnly, Alias("get-manifest")]
    ValueTask<ManifestDescriptor?> GetManifest(string digest);

    /// <summary>A page of the tags list, as the OCI response body; null when the repository is unknown.</summary>
    [ReadOnly, Alias("list-tags-json")]
    ValueTask<TagsListing?> ListTags(string? last, int limit);

    /// <summary>The acknowledged writes of a tag, newest first.</summary>
    [ReadOnly, Alias("tag-history")]
    ValueTask<IReadOnlyList<TagHistoryEntry>> GetTagHistory(string tag);

    [Alias("delete-tag")]
    Task<bool> DeleteTag(string tag);

    /// <summary>Deletes a manifest and every tag that points at it.</summary>
    [Alias("delete-manifest")]
    Task<bool> DeleteManifest(string digest);

    /// <summary>Lets the repository serve a blob whose bytes are verified and stored.</summary>
    [Alias("link-blob")]
    Task LinkBlob(string digest, long size);

    /// <summary>Like <see cref="LinkBlob"/>, for a blob mounted from another repository (<paramref name="from"/>, if named).</summary>
    [Alias("mount-blob")]
    Task MountBlob(string digest, long size, string? from);

    /// <summary>The size of a blob this repository may serve, or null.</summary>
    [ReadOnly, Alias("blob-size")]
    ValueTask<long?> GetBlobSize(string digest);

    [Alias("unlink-blob")]
    Task<bool> UnlinkBlob(string digest);

    [ReadOnly, Alias("referrers")]
    ValueTask<IReadOnlyList<Referrer>> GetReferrers(string subject, string? artifactType);
}
