using Registry.Api.Kube;

namespace Registry.Api.Images;

/// <summary>The permissions of the image API: the same as those of <c>/v2</c>.</summary>
public enum ImageAction
{
    /// <summary>Read a stream, its tags and images (get, list, watch).</summary>
    Pull,

    /// <summary>Create or move tags.</summary>
    Push,

    /// <summary>Move a tag that points at another image.</summary>
    Overwrite,

    /// <summary>Delete tags and streams.</summary>
    Delete,

    /// <summary>Registry-wide reads: cluster-scoped images, whose digests are not tied to one repository.</summary>
    RegistryPull,
}

/// <summary>
/// What one operation needs: an action on a repository, or on any repository of
/// <see cref="Namespace"/> (a list in one namespace), or on the registry when both are null.
/// </summary>
public sealed record ImageAccessNeed(string Resource, string Verb, ImageAction Action, string? Repository, string? Namespace = null)
{
    /// <summary>
    /// The table of what each operation of the image API needs. Lists across a namespace or the
    /// registry need no more than being let in: their items are filtered one by one by pull.
    /// </summary>
    public static ImageAccessNeed Of(string resource, string verb, string? repository, string? ns = null) => (resource, verb) switch
    {
        ("images", _) or ("namespaces", "list") => new(resource, verb, ImageAction.RegistryPull, null),
        (_, "get" or "list" or "watch") => new(resource, verb, ImageAction.Pull, repository, ns),
        (_, "create") => new(resource, verb, ImageAction.Push, repository, ns),
        (_, "update" or "patch") => new(resource, verb, ImageAction.Overwrite, repository, ns),
        (_, "delete" or "deletecollection") => new(resource, verb, ImageAction.Delete, repository, ns),
        _ => throw new ArgumentOutOfRangeException(nameof(verb), verb, "not a verb of the image API"),
    };
}

/// <summary>
/// The one place the image API asks whether a request may do what it needs. Access control
/// (<c>Api/Access</c>) connects here; until then every request is allowed, as on an <c>/v2</c>
/// with access control off.
/// </summary>
public interface IImageApiAccess
{
    /// <summary>Null when the request may go on; otherwise the Status to answer (401 or 403).</summary>
    ValueTask<KubeStatus?> CheckAsync(HttpContext context, ImageAccessNeed need);
}

/// <summary>Lets everything through: the image API before it is wired to access control.</summary>
public sealed class OpenImageApiAccess : IImageApiAccess
{
    public ValueTask<KubeStatus?> CheckAsync(HttpContext context, ImageAccessNeed need) => ValueTask.FromResult<KubeStatus?>(null);
}
