namespace Registry.Api.Access;

/// <summary>Who sent a request: an account, or anonymous (empty name).</summary>
/// <remarks><paramref name="Fingerprint"/> stands for the account's password in refresh tokens (null for anonymous).</remarks>
public sealed record Identity(string Name, IReadOnlyList<string> Groups, bool IsAdmin, string? Fingerprint = null)
{
    public static readonly Identity Anonymous = new("", [BuiltInGroups.Anonymous], false);

    public bool IsAnonymous => Name.Length == 0;

    /// <summary>The subject of one of our bearer tokens: what it may do is the token's grant, not looked up again.</summary>
    public static Identity OfToken(string subject) => subject.Length == 0 ? Anonymous : new(subject, [BuiltInGroups.Authenticated], false);
}

public static class BuiltInGroups
{
    public const string Anonymous = "system:anonymous";
    public const string Authenticated = "system:authenticated";
}
