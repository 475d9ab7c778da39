using System.Diagnostics;
using Registry.Api.Access;
using Registry.Api.Kube;
using Registry.Grains;

namespace Registry.Api.Events;

/// <summary>
/// Which events a watch may send: with access control on, only those of repositories its caller
/// may pull, decided per repository when an event arrives (a grant or revocation made during the
/// watch takes effect within <see cref="Recheck"/>); events of others are skipped as the
/// repository filter skips them (an id-only block moves the client's resume point).
/// </summary>
/// <remarks>
/// Admission: a watch of one repository needs pull on it; a watch of a whole namespace is open to
/// any authenticated caller (it sees what it may pull), and to anonymous callers only where
/// anonymous may pull the namespace as a whole. The refusal events (<see cref="RegistryStreams.RefusalsKey"/>)
/// name other users and their addresses: only a registry admin watches them. Refusals are 401 with a challenge (anonymous) or
/// 403, as Kubernetes Status.
/// </remarks>
public sealed class WatchVisibility
{
    /// <summary>How long a repository's answer is reused within one watch.</summary>
    public static readonly TimeSpan Recheck = TimeSpan.FromSeconds(10);

    private readonly Identity _identity;
    private readonly Authorizer _authorizer;
    private readonly Dictionary<string, (bool Visible, long At)> _known = new(StringComparer.Ordinal);

    private WatchVisibility(Identity identity, Authorizer authorizer)
    {
        _identity = identity;
        _authorizer = authorizer;
    }

    /// <summary>The visibility of the admitted watch (null: every event), or the refusal.</summary>
    public static async ValueTask<(WatchVisibility? Visibility, KubeStatus? Refused)> AdmitAsync(HttpContext context, WatchQuery query)
    {
        if (ApiAccess.CallerOf(context) is not { } caller)
        {
            return (null, null);
        }

        var authorizer = context.RequestServices.GetRequiredService<Authorizer>();
        var ns = query.Namespace == WatchEndpoint.EmptyNamespace ? "" : query.Namespace;
        AccessItem? required = query.Namespace is RegistryStreams.RefusalsKey or RegistryStreams.CollectionsKey ? AccessItem.WholeRegistry(Actions.Admin)
            : query.Repository is { } repository ? AccessItem.Repo(repository, Actions.Pull)
            : caller.Identity.IsAnonymous ? AccessItem.Namespace(ns, Actions.Pull)
            : null;
        if (required is not null && await ApiAccess.AuthorizeAsync(context, required) is { } refused)
        {
            return (null, refused);
        }

        return await authorizer.AllowsAsync(caller.Identity, AccessItem.Catalog)
            ? (null, null)
            : (new WatchVisibility(caller.Identity, authorizer), null);
    }

    /// <summary>Whether the caller may see events of <paramref name="repository"/> now.</summary>
    public async ValueTask<bool> AllowsAsync(string repository)
    {
        var now = Stopwatch.GetTimestamp();
        if (_known.TryGetValue(repository, out var known) && Stopwatch.GetElapsedTime(known.At, now) < Recheck)
        {
            return known.Visible;
        }

        if (_known.Count > 10_000)
        {
            _known.Clear();
        }

        var visible = await _authorizer.AllowsAsync(_identity, AccessItem.Repo(repository, Actions.Pull));
        _known[repository] = (visible, now);
        return visible;
    }
}
