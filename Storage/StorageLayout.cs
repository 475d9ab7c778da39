namespace Registry.Storage;

/// <summary>
/// Where a store keeps each thing, as <c>/</c>-separated names relative to its root: a data
/// directory for the filesystem driver, a container for the Azure driver. Both drivers take
/// their names from here only, so the two layouts stay the same and match docs/storage-layout.md;
/// data already stored is found by these exact names, so they must not change.
/// </summary>
public static class StorageLayout
{
    /// <summary>Content-addressed blobs: layers, configs and manifests.</summary>
    public const string BlobsDirectory = "blobs";

    /// <summary>The staging areas of uploads in progress, one directory (or name prefix) per upload.</summary>
    public const string UploadsDirectory = "uploads";

    /// <summary>Files being written before they are renamed into place (filesystem driver).</summary>
    public const string TempDirectory = "tmp";

    /// <summary>What every name in an upload's staging area starts with.</summary>
    public const string UploadsPrefix = UploadsDirectory + "/";

    private const string DataLeaf = "data";
    private const string StartedAtLeaf = "startedat";
    private const string InfoLeaf = "info";

    /// <summary>
    /// <c>blobs/{algorithm}/{first two hex}/{hex}</c> for a validated digest <c>algorithm:hex</c>;
    /// the two-digit level fans the blobs out over at most 256 directories per algorithm.
    /// </summary>
    public static string BlobPath(string digest)
    {
        var colon = digest.IndexOf(':', StringComparison.Ordinal);
        var algorithm = digest.AsSpan(0, colon);
        var hex = digest.AsSpan(colon + 1);
        return $"{BlobsDirectory}/{algorithm}/{hex[..2]}/{hex}";
    }

    /// <summary>The digest a <see cref="BlobPath"/> name stands for; null for any other name (a stray file).</summary>
    public static string? DigestOfBlobPath(string name)
    {
        var parts = name.Split('/');
        return parts.Length != 4 || parts[0] != BlobsDirectory ? null : DigestOfBlobFile(parts[1], parts[2], parts[3]);
    }

    /// <summary>
    /// The digest of the file <c>blobs/{algorithm}/{fanOut}/{file}</c> (the parts of a
    /// <see cref="BlobPath"/>, given apart so a listing need not build the name); null if it is no blob's.
    /// </summary>
    public static string? DigestOfBlobFile(ReadOnlySpan<char> algorithm, ReadOnlySpan<char> fanOut, ReadOnlySpan<char> file)
    {
        if (algorithm.Length == 0 || file.Length < 2 || fanOut.Length != 2 || !file.StartsWith(fanOut, StringComparison.Ordinal)
            || algorithm.ContainsAnyExcept(AlgorithmCharacters) || file.ContainsAnyExcept(LowerHex))
        {
            return null;
        }

        return string.Concat(algorithm, ":", file);
    }

    private static readonly System.Buffers.SearchValues<char> AlgorithmCharacters = System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyz0123456789");

    private static readonly System.Buffers.SearchValues<char> LowerHex = System.Buffers.SearchValues.Create("0123456789abcdef");

    /// <summary><c>uploads/{id}</c>: the staging area of one upload.</summary>
    public static string UploadDirectory(string uploadId) => UploadsPrefix + uploadId;

    /// <summary><c>uploads/{id}/data</c>: the bytes received so far.</summary>
    public static string UploadDataPath(string uploadId) => $"{UploadsPrefix}{uploadId}/{DataLeaf}";

    /// <summary><c>uploads/{id}/startedat</c>: when the upload started, in Unix milliseconds (filesystem driver).</summary>
    public static string UploadStartedAtPath(string uploadId) => $"{UploadsPrefix}{uploadId}/{StartedAtLeaf}";

    /// <summary>
    /// <c>uploads/{id}/info</c>: the marker a listing finds, its start time in metadata (Azure driver,
    /// where a directory exists only through the names under it).
    /// </summary>
    public static string UploadInfoPath(string uploadId) => $"{UploadsPrefix}{uploadId}/{InfoLeaf}";

    /// <summary>The upload id of an <see cref="UploadInfoPath"/> name; null for any other name.</summary>
    public static string? UploadIdOfInfoPath(string name)
    {
        const string suffix = "/" + InfoLeaf;
        if (!name.StartsWith(UploadsPrefix, StringComparison.Ordinal)
            || !name.EndsWith(suffix, StringComparison.Ordinal)
            || name.Length <= UploadsPrefix.Length + suffix.Length)
        {
            return null;
        }

        return name[UploadsPrefix.Length..^suffix.Length];
    }

    /// <summary>The upload id of an <see cref="UploadDataPath"/> name (one path segment); null for any other name.</summary>
    public static string? UploadIdOfDataPath(string name)
    {
        const string suffix = "/" + DataLeaf;
        if (!name.StartsWith(UploadsPrefix, StringComparison.Ordinal)
            || !name.EndsWith(suffix, StringComparison.Ordinal)
            || name.Length <= UploadsPrefix.Length + suffix.Length)
        {
            return null;
        }

        var id = name[UploadsPrefix.Length..^suffix.Length];
        return id.Contains('/', StringComparison.Ordinal) || id is "." or ".." ? null : id;
    }

    /// <summary>
    /// <paramref name="relative"/> (a name from this class) under the directory <paramref name="root"/>,
    /// with the platform's separator.
    /// </summary>
    public static string Under(string root, string relative)
        => Path.Combine(root, Path.DirectorySeparatorChar == '/' ? relative : relative.Replace('/', Path.DirectorySeparatorChar));
}
