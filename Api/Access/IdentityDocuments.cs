using System.Text.Json.Serialization;

namespace Registry.Api.Access;

/// <summary>What a user is: groups and the admin flag; the password is only ever written, never answered.</summary>
public sealed record UserSpec
{
    public IReadOnlyList<string>? Groups { get; init; }

    public bool? Admin { get; init; }

    public string? Password { get; init; }
}

/// <summary>A user (<c>registry/v1</c> <c>User</c>).</summary>
public sealed record UserDocument
{
    public string? ApiVersion { get; init; }

    public string? Kind { get; init; }

    public ObjectMeta? Metadata { get; init; }

    public UserSpec? Spec { get; init; }
}

/// <summary>What a robot may do: its repositories (the whole namespace when empty), actions and expiry.</summary>
public sealed record RobotSpec
{
    public IReadOnlyList<string>? Repositories { get; init; }

    public IReadOnlyList<string>? Actions { get; init; }

    public DateTimeOffset? ExpiresAt { get; init; }
}

/// <summary>What the registry says about a robot: its login name, its secret (in the create answer only) and its last use.</summary>
public sealed record RobotStatus
{
    public string? LoginName { get; init; }

    public string? Secret { get; init; }

    public string? LastUsedAt { get; init; }

    public bool? Expired { get; init; }
}

/// <summary>A robot account (<c>registry/v1</c> <c>Robot</c>).</summary>
public sealed record RobotDocument
{
    public string? ApiVersion { get; init; }

    public string? Kind { get; init; }

    public ObjectMeta? Metadata { get; init; }

    public RobotSpec? Spec { get; init; }

    public RobotStatus? Status { get; init; }
}

public sealed record UserList(string ApiVersion, string Kind, ListMeta Metadata, IReadOnlyList<UserDocument> Items);

public sealed record RobotList(string ApiVersion, string Kind, ListMeta Metadata, IReadOnlyList<RobotDocument> Items);

/// <summary>
/// The documents of the identity API. Unknown fields are refused (a misspelt field is an error,
/// not silently ignored), and absent ones are not written.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(UserDocument))]
[JsonSerializable(typeof(RobotDocument))]
[JsonSerializable(typeof(UserList))]
[JsonSerializable(typeof(RobotList))]
internal sealed partial class IdentityJsonContext : JsonSerializerContext;
