using System.Text.RegularExpressions;
using Registry.Grains;

namespace Registry.Api.Access;

/// <summary>What a role lets its subjects do, as flags so a decision is a few OR operations.</summary>
[Flags]
public enum Permissions
{
    None = 0,
    Pull = 1,
    Push = 2,
    Overwrite = 4,
    Delete = 8,
    Admin = 16,

    /// <summary>Creating namespaces (including by a first push): the <c>namespace-creator</c> role at registry scope.</summary>
    CreateNamespace = 32,

    Owner = Pull | Push | Overwrite | Delete | Admin,
}

/// <summary>The built-in roles; fixed, not editable.</summary>
public static class Roles
{
    public const string Viewer = "viewer";
    public const string Pusher = "pusher";
    public const string Editor = "editor";
    public const string Admin = "admin";

    /// <summary>Registry scope only: may create namespaces, and becomes the admin of each one it creates.</summary>
    public const string NamespaceCreator = "namespace-creator";

    /// <summary>Every role and what it allows; at registry scope <c>admin</c> also creates namespaces.</summary>
    public static readonly IReadOnlyDictionary<string, Permissions> All = new Dictionary<string, Permissions>(StringComparer.Ordinal)
    {
        [Viewer] = Permissions.Pull,
        [Pusher] = Permissions.Pull | Permissions.Push,
        [Editor] = Permissions.Pull | Permissions.Push | Permissions.Overwrite | Permissions.Delete,
        [Admin] = Permissions.Owner,
        [NamespaceCreator] = Permissions.CreateNamespace,
    };

    public static bool IsValid(string role, bool registryScope) => All.ContainsKey(role) && (registryScope || role != NamespaceCreator);

    public static Permissions Of(string role, bool registryScope)
        => All.TryGetValue(role, out var permissions) ? permissions | (registryScope && role == Admin ? Permissions.CreateNamespace : Permissions.None) : Permissions.None;

    /// <summary>The permission an action of a scope stands for; <c>*</c> is everything.</summary>
    public static Permissions OfAction(string action) => action switch
    {
        Actions.Pull => Permissions.Pull,
        Actions.Push => Permissions.Push,
        Actions.Overwrite => Permissions.Overwrite,
        Actions.Delete => Permissions.Delete,
        Actions.Admin => Permissions.Admin,
        Actions.All => Permissions.Owner,
        _ => (Permissions)(-1),
    };
}

/// <summary>Names of policy resources.</summary>
public static partial class PolicyNames
{
    /// <summary>A namespace is a repository name's first component, so it follows that grammar.</summary>
    public static bool IsNamespace(string name) => name.Length is > 0 and <= 128 && Component().IsMatch(name);

    /// <summary>A repository relative to its namespace: one or more components joined by <c>/</c>.</summary>
    public static bool IsRelativeRepository(string name) => name.Length is > 0 and <= 255 && name.Split('/').All(Component().IsMatch);

    /// <summary>Binding names, as Kubernetes object names (DNS-1123 subdomain).</summary>
    public static bool IsObjectName(string name) => name.Length is > 0 and <= 253 && ObjectName().IsMatch(name);

    /// <summary>A subject's name: printable, no white space.</summary>
    public static bool IsSubjectName(string name) => name.Length is > 0 and <= 256 && !name.Any(c => char.IsWhiteSpace(c) || char.IsControl(c));

    // \z, not $: $ also matches before a final line break, and "team\n" is no namespace.
    [GeneratedRegex(@"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\z")]
    private static partial Regex Component();

    [GeneratedRegex(@"^[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?\z")]
    private static partial Regex ObjectName();
}

/// <summary>A decision from cached policy: pure, no I/O.</summary>
public static class PolicyEvaluator
{
    /// <summary>
    /// What <paramref name="identity"/> may do on <paramref name="item"/> by its bindings at
    /// registry scope and in the item's namespace (null for a registry item), and by owning the
    /// namespace named after it. Pushing needs the namespace to exist.
    /// </summary>
    public static Permissions Evaluate(Identity identity, AccessItem item, ScopePolicy registry, ScopePolicy? ns)
    {
        var permissions = Bound(identity, registry, repository: null, registryScope: true);
        if (item.Type == AccessItem.Registry || ns is null)
        {
            return item.Type == AccessItem.Registry ? permissions : Permissions.None;
        }

        string? relative = null;
        if (item.Type == AccessItem.Repository)
        {
            relative = item.Name.Length > ns.Scope.Length ? item.Name[(ns.Scope.Length + 1)..] : "";
        }

        permissions |= Bound(identity, ns, relative, registryScope: false);
        var owner = !identity.IsAnonymous && ns.Scope == identity.Name;
        if (owner)
        {
            permissions |= Permissions.Owner;
        }
        else if (!ns.Exists)
        {
            permissions &= ~(Permissions.Push | Permissions.Overwrite);
        }

        return permissions & ~Permissions.CreateNamespace;
    }

    /// <summary>Whether the identity may create namespaces by its registry-scope bindings.</summary>
    public static bool MayCreateNamespaces(Identity identity, ScopePolicy registry)
        => identity.IsAdmin || (!identity.IsAnonymous && Bound(identity, registry, null, registryScope: true).HasFlag(Permissions.CreateNamespace));

    /// <summary>The actions of <paramref name="requested"/> that <paramref name="permissions"/> cover.</summary>
    public static IReadOnlyList<string> Grant(AccessItem requested, Permissions permissions)
    {
        var granted = new List<string>(requested.Actions.Count);
        foreach (var action in requested.Actions)
        {
            // The catalog is read with pull at registry scope.
            var needed = action == Actions.All && requested.Type == AccessItem.Registry && requested.Name == AccessItem.Catalog.Name ? Permissions.Pull : Roles.OfAction(action);
            if ((permissions & needed) == needed)
            {
                granted.Add(action);
            }
        }

        return granted;
    }

    private static Permissions Bound(Identity identity, ScopePolicy policy, string? repository, bool registryScope)
    {
        var permissions = Permissions.None;
        foreach (var binding in policy.Bindings)
        {
            // A namespace-wide binding covers every repository of it; a repository binding that one only, and not the namespace itself.
            if ((binding.Repository is null || binding.Repository == repository) && binding.Subjects.Any(s => Matches(s, identity)))
            {
                permissions |= Roles.Of(binding.Role, registryScope);
            }
        }

        return permissions;
    }

    /// <remarks>
    /// A subject names a kind as well as a name: a <c>ServiceAccount</c> is only ever a robot, and
    /// a <c>User</c> never is, so an external user whose name reads like a robot's login
    /// (<c>ns+name</c>, possible with no <c>UsernamePrefix</c>) gets nothing bound to that robot.
    /// </remarks>
    private static bool Matches(PolicySubject subject, Identity identity) => subject.Kind switch
    {
        PolicySubject.Group => identity.Groups.Contains(subject.Name, StringComparer.Ordinal),
        PolicySubject.User => !identity.IsAnonymous && identity.Kind != IdentityKind.Robot && subject.Name == identity.Name,
        PolicySubject.ServiceAccount => identity.Kind == IdentityKind.Robot && subject.LoginName == identity.Name,
        _ => false,
    };
}
