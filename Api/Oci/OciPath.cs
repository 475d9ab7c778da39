namespace Registry.Api.Oci;

public enum OciRoute
{
    NotFound,
    Base,
    Catalog,
    Tags,
    Manifest,
    Blob,
    UploadStart,
    Upload,
    Referrers,
}

/// <summary>
/// A <c>/v2/</c> path split into its route, repository name and reference. Repository names
/// contain slashes, so the route is recognised from the end of the path, as the spec's
/// endpoint table is written.
/// </summary>
public readonly record struct OciPath(OciRoute Route, string Name, string Reference)
{
    public static OciPath Parse(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return new OciPath(OciRoute.Base, "", "");
        }

        if (path is "_catalog")
        {
            return new OciPath(OciRoute.Catalog, "", "");
        }

        var s = path.Split('/');
        var n = s.Length;
        if (n >= 3 && s[n - 2] == "tags" && s[n - 1] == "list")
        {
            return Make(OciRoute.Tags, s, n - 2, "");
        }

        if (n >= 3 && s[n - 2] == "manifests")
        {
            return Make(OciRoute.Manifest, s, n - 2, s[n - 1]);
        }

        if (n >= 3 && s[n - 2] == "referrers")
        {
            return Make(OciRoute.Referrers, s, n - 2, s[n - 1]);
        }

        if (n >= 4 && s[n - 3] == "blobs" && s[n - 2] == "uploads")
        {
            return s[n - 1].Length == 0
                ? Make(OciRoute.UploadStart, s, n - 3, "")
                : Make(OciRoute.Upload, s, n - 3, s[n - 1]);
        }

        if (n >= 3 && s[n - 2] == "blobs")
        {
            return s[n - 1] == "uploads"
                ? Make(OciRoute.UploadStart, s, n - 2, "")
                : Make(OciRoute.Blob, s, n - 2, s[n - 1]);
        }

        return new OciPath(OciRoute.NotFound, "", "");
    }

    private static OciPath Make(OciRoute route, string[] segments, int nameSegments, string reference)
        => new(route, string.Join('/', segments, 0, nameSegments), reference);
}
