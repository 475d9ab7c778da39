using Registry.Api.Access;
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

/// <summary>
/// The image API under the registry's access control: the caller is authenticated as on every
/// <c>/apis</c> endpoint (<see cref="ApiAccess"/>) and needs on the repository what <c>/v2</c>
/// would ask. With access control off everything is allowed, as on <c>/v2</c>.
/// </summary>
public sealed class PolicyImageApiAccess(ApiAccess api) : IImageApiAccess
{
    public async ValueTask<KubeStatus?> CheckAsync(HttpContext context, ImageAccessNeed need)
    {
        if (ApiAccess.CallerOf(context) is null && await api.AuthenticateAsync(context) is { } failed)
        {
            return failed;
        }

        var caller = ApiAccess.CallerOf(context);
        if (caller is null)
        {
            return null;
        }

        var action = need.Action switch
        {
            ImageAction.Push => Actions.Push,
            ImageAction.Overwrite => Actions.Overwrite,
            ImageAction.Delete => Actions.Delete,
            _ => Actions.Pull,
        };
        AccessItem[] required = need switch
        {
            { Repository: { } repository } => [AccessItem.Repo(repository, action)],

            // A list in one namespace shows only what the caller may pull; anonymous callers must be able to pull the namespace.
            { Namespace: { } ns } => caller.Identity.IsAnonymous ? [AccessItem.Namespace(ns, action)] : [],

            // Across namespaces likewise: item by item, but anonymous callers must be able to pull the whole registry.
            { Action: ImageAction.Pull } => caller.Identity.IsAnonymous ? [AccessItem.WholeRegistry(action)] : [],
            _ => [AccessItem.WholeRegistry(action)],
        };
        return required.Length == 0 ? null : await ApiAccess.AuthorizeAsync(context, required);
    }
}
