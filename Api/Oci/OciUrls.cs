using Orleans.Runtime;
using Registry.Grains;

namespace Registry.Api.Oci;

/// <summary>
/// The URLs of the <c>/v2</c> API, in one place: the <c>Location</c> headers and the target URL the
/// events of a change carry (grains never build URLs; they copy <see cref="ChangeOrigin.TargetUrl"/>).
/// </summary>
public static class OciUrls
{
    public static string Blob(string name, string digest) => $"/v2/{name}/blobs/{digest}";

    public static string Manifest(string name, string digest) => $"/v2/{name}/manifests/{digest}";

    public static string Upload(string name, string id) => $"/v2/{name}/blobs/uploads/{id}";

    /// <summary>
    /// Names <paramref name="path"/> (on the host the request was sent to) as the target of the
    /// change the following grain calls of this request make. Without a Host header events carry no URL.
    /// </summary>
    public static void SetEventTarget(string path)
    {
        var origin = ChangeOrigin.Current;
        if (origin.Request.Host.Length > 0)
        {
            RequestContext.Set(ChangeOrigin.ContextKey, origin with { TargetUrl = $"http://{origin.Request.Host}{path}" });
        }
    }
}
