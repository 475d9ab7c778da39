namespace Registry.Api.Access;

/// <summary>The actions of the access model.</summary>
public static class Actions
{
    public const string Pull = "pull";
    public const string Push = "push";
    public const string Delete = "delete";
    public const string Overwrite = "overwrite";
    public const string Admin = "admin";
    public const string All = "*";
}

/// <summary>One access item: a resource type, its name and actions, as scopes and tokens carry them.</summary>
public sealed record AccessItem(string Type, string Name, IReadOnlyList<string> Actions)
{
    public const string Repository = "repository";
    public const string Registry = "registry";

    /// <summary>A namespace as a resource: its bindings, robots and the namespace itself (<c>namespace:team:admin</c>).</summary>
    public const string NamespaceType = "namespace";

    public static AccessItem Repo(string name, params string[] actions) => new(Repository, name, actions);

    public static AccessItem Namespace(string name, params string[] actions) => new(NamespaceType, name, actions);

    /// <summary>The registry as a whole: registry-scope bindings, accounts, creating namespaces (<c>registry:registry:admin</c>).</summary>
    public static AccessItem WholeRegistry(params string[] actions) => new(Registry, Registry, actions);

    /// <summary><c>registry:catalog:*</c>: the whole repository list.</summary>
    public static readonly AccessItem Catalog = new(Registry, "catalog", [Access.Actions.All]);

    /// <summary>The scope string, <c>type:name:action,action</c>.</summary>
    public override string ToString() => $"{Type}:{Name}:{string.Join(',', Actions)}";

    /// <summary>
    /// Parses <c>type[(class)]:name:actions</c>. The name may hold <c>host:port</c>, so the type
    /// ends at the first colon and the actions start after the last; the class is ignored.
    /// </summary>
    public static AccessItem? Parse(string scope)
    {
        var first = scope.IndexOf(':', StringComparison.Ordinal);
        var last = scope.LastIndexOf(':');
        if (first <= 0 || last <= first + 1 || last == scope.Length - 1)
        {
            return null;
        }

        var type = scope[..first];
        var open = type.IndexOf('(', StringComparison.Ordinal);
        if (open >= 0)
        {
            type = type.EndsWith(')') && open > 0 ? type[..open] : "";
        }

        var name = scope[(first + 1)..last];
        var actions = scope[(last + 1)..].Split(',');
        if (!IsWord(type) || name.Any(char.IsWhiteSpace) || !actions.All(a => a == Access.Actions.All || IsWord(a)))
        {
            return null;
        }

        return new AccessItem(type, name, [.. actions.Distinct(StringComparer.Ordinal)]);
    }

    /// <summary>Parses every scope of every <c>scope</c> parameter (each may hold several, space-separated); null when one is malformed.</summary>
    public static List<AccessItem>? ParseAll(IEnumerable<string?> parameters)
    {
        var items = new List<AccessItem>();
        foreach (var parameter in parameters)
        {
            foreach (var scope in (parameter ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                if (Parse(scope) is not { } item)
                {
                    return null;
                }

                items.Add(item);
            }
        }

        // Repeated scopes for one resource merge into one item.
        return [.. items.GroupBy(i => (i.Type, i.Name)).Select(g => new AccessItem(g.Key.Type, g.Key.Name, [.. g.SelectMany(i => i.Actions).Distinct(StringComparer.Ordinal)]))];
    }

    private static bool IsWord(string s) => s.Length is > 0 and <= 64 && s.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9'));
}
