namespace Registry.Api.Access;

/// <summary>Who sent a request: an account, or anonymous (empty name).</summary>
/// <remarks>
/// <paramref name="Fingerprint"/> stands for the account's password in refresh tokens (null for anonymous).
/// <paramref name="Confinement"/>, when set, is the only repositories the identity may act on
/// whatever its bindings say (a robot account's namespace or list): entries are repository names,
/// or <c>ns/*</c> for every repository of a namespace.
/// </remarks>
public sealed record Identity(string Name, IReadOnlyList<string> Groups, bool IsAdmin, string? Fingerprint = null, IReadOnlyList<string>? Confinement = null)
{
    public static readonly Identity Anonymous = new("", [BuiltInGroups.Anonymous], false);

    public bool IsAnonymous => Name.Length == 0;

    /// <summary>Whether <paramref name="item"/> lies outside the identity's confinement (then nothing is allowed on it).</summary>
    public bool IsConfinedFrom(AccessItem item)
    {
        if (Confinement is null)
        {
            return false;
        }

        var name = item.Type switch
        {
            AccessItem.Repository => item.Name,
            AccessItem.NamespaceType => item.Name + "/*",
            _ => null,
        };
        return name is null || !Confinement.Any(c => c == name || (c.EndsWith("/*", StringComparison.Ordinal) && name.StartsWith(c[..^1], StringComparison.Ordinal)));
    }

    /// <summary>The subject of one of our bearer tokens: what it may do is the token's grant, not looked up again.</summary>
    public static Identity OfToken(string subject) => subject.Length == 0 ? Anonymous : new(subject, [BuiltInGroups.Authenticated], false);
}

public static class BuiltInGroups
{
    public const string Anonymous = "system:anonymous";
    public const string Authenticated = "system:authenticated";
}
