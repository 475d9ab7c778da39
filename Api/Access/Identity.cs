namespace Registry.Api.Access;

/// <summary>Where an identity comes from.</summary>
public enum IdentityKind
{
    Anonymous,

    /// <summary>A registry account, proven by its password.</summary>
    User,

    /// <summary>A namespace's robot account, proven by its secret.</summary>
    Robot,

    /// <summary>A user of the configured OIDC issuer, proven by its ID token.</summary>
    External,

    /// <summary>The subject of one of our bearer tokens: the token's grant decides.</summary>
    Token,
}

/// <summary>Who sent a request: an account, or anonymous (empty name).</summary>
/// <remarks>
/// <paramref name="Fingerprint"/> stands for the credential: an account's password hash (in
/// refresh tokens; only accounts get them) or a robot's secret hash (in the tokens issued to it,
/// so a robot created again under the same name does not inherit them); null for anonymous and
/// external users.
/// <paramref name="Confinement"/>, when set, is the only repositories the identity may act on
/// whatever its bindings say (a robot account's namespace or list): entries are repository names,
/// or <c>ns/*</c> for every repository of a namespace.
/// <paramref name="OwnActions"/>, when set, are the actions the identity has by itself on every
/// repository of its confinement (a robot's actions, given when it was created).
/// </remarks>
public sealed record Identity(
    string Name,
    IReadOnlyList<string> Groups,
    bool IsAdmin,
    string? Fingerprint = null,
    IReadOnlyList<string>? Confinement = null,
    IdentityKind Kind = IdentityKind.User,
    IReadOnlyList<string>? OwnActions = null)
{
    public static readonly Identity Anonymous = new("", [BuiltInGroups.Anonymous], false, Kind: IdentityKind.Anonymous);

    public bool IsAnonymous => Name.Length == 0;

    /// <summary>Whether <paramref name="item"/> lies outside the identity's confinement (then nothing is allowed on it).</summary>
    /// <remarks>
    /// Only repositories can lie inside a confinement: a namespace item (its robots, its bindings)
    /// never does, so a robot never administers anything, not even the namespace it lives in.
    /// </remarks>
    public bool IsConfinedFrom(AccessItem item)
    {
        if (Confinement is null)
        {
            return false;
        }

        return item.Type != AccessItem.Repository
            || !Confinement.Any(c => c == item.Name || (c.EndsWith("/*", StringComparison.Ordinal) && item.Name.StartsWith(c[..^1], StringComparison.Ordinal)));
    }

    /// <summary>The actions the identity has on <paramref name="item"/> by itself, before any policy.</summary>
    public IReadOnlyList<string> OwnActionsOn(AccessItem item)
        => OwnActions is { } own && !IsConfinedFrom(item) ? own : [];

    /// <summary>The subject of one of our bearer tokens: what it may do is the token's grant, not looked up again.</summary>
    public static Identity OfToken(string subject) => subject.Length == 0 ? Anonymous : new(subject, [BuiltInGroups.Authenticated], false, Kind: IdentityKind.Token);
}

public static class BuiltInGroups
{
    public const string Anonymous = "system:anonymous";
    public const string Authenticated = "system:authenticated";

    /// <summary>Every robot account.</summary>
    public const string Robots = "system:robots";

    /// <summary>Whether a group name is reserved for the registry (an external issuer's claim may not carry it).</summary>
    public static bool IsReserved(string group) => group.StartsWith("system:", StringComparison.Ordinal);
}
