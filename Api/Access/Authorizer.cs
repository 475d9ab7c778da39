namespace Registry.Api.Access;

/// <summary>
/// Decides which actions an identity has on a resource. Today: a registry admin may do
/// everything, a user everything in the namespace named after them (so a new account can push at
/// once), anonymous nothing.
/// </summary>
public sealed class Authorizer
{
    private static readonly string[] Owner = [Actions.Pull, Actions.Push, Actions.Overwrite, Actions.Delete, Actions.Admin];

    /// <summary>The actions of <paramref name="requested"/> that <paramref name="identity"/> has: the intersection, never an error.</summary>
    /// <remarks>Asynchronous because policy lives in grains; a cached answer completes synchronously.</remarks>
    public ValueTask<IReadOnlyList<string>> GrantAsync(Identity identity, AccessItem requested)
    {
        var allowed = Allowed(identity, requested);
        return ValueTask.FromResult<IReadOnlyList<string>>([.. requested.Actions.Where(a => allowed.Contains(a, StringComparer.Ordinal) || (a == Actions.All && allowed.Length == Owner.Length))]);
    }

    /// <summary>Whether <paramref name="identity"/> has every action of <paramref name="required"/>.</summary>
    public async ValueTask<bool> AllowsAsync(Identity identity, AccessItem required) => (await GrantAsync(identity, required)).Count == required.Actions.Count;

    /// <summary>A repository's namespace: its first path component.</summary>
    public static string NamespaceOf(string repository)
    {
        var slash = repository.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 ? repository[..slash] : repository;
    }

    private static string[] Allowed(Identity identity, AccessItem item)
    {
        if (identity.IsConfinedFrom(item))
        {
            return [];
        }

        if (identity.OwnActions is not null)
        {
            // A robot: the actions it was created with, on its repositories; no binding widens them.
            return [.. identity.OwnActionsOn(item)];
        }

        if (identity.IsAdmin)
        {
            return Owner;
        }

        if (identity.IsAnonymous)
        {
            return [];
        }

        return item.Type switch
        {
            AccessItem.Repository when NamespaceOf(item.Name) == identity.Name => Owner,
            AccessItem.NamespaceType when item.Name == identity.Name => Owner,
            _ => [],
        };
    }
}
