using Orleans.Concurrency;

namespace Registry.Grains;

/// <summary>
/// A robot account of a namespace, for CI and pull secrets. Its secret is stored as a SHA-256
/// hash only (<see cref="SecretHash"/>); <see cref="Repositories"/> are the repositories it is
/// confined to (<c>ns/*</c> for the whole namespace) and <see cref="Actions"/> what it may do there.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.robot")]
public sealed record Robot(
    [property: Id(0)] string Name,
    [property: Id(1)] string SecretHash,
    [property: Id(2)] IReadOnlyList<string> Repositories,
    [property: Id(3)] IReadOnlyList<string> Actions,
    [property: Id(4)] DateTimeOffset? ExpiresAt,
    [property: Id(5)] DateTimeOffset CreatedAt,
    [property: Id(6)] string CreatedBy,
    [property: Id(7)] DateTimeOffset? LastUsedAt,
    [property: Id(8)] long Version);

[GenerateSerializer, Alias("registry.robot-outcome")]
public enum RobotOutcome
{
    Created,
    Exists,
    TooMany,
}

/// <summary>The robots of one namespace, keyed by the namespace.</summary>
[Alias("registry.robots")]
public interface IRobotsGrain : IGrainWithStringKey
{
    /// <summary>The most robots one namespace holds.</summary>
    public const int Limit = 200;

    [ReadOnly, Alias("get")]
    ValueTask<Robot?> Get(string name);

    [ReadOnly, Alias("list")]
    ValueTask<IReadOnlyList<Robot>> List();

    /// <summary>Stores a new robot (its <see cref="Robot.Version"/> and <see cref="Robot.CreatedAt"/> are the grain's).</summary>
    [Alias("create")]
    Task<(RobotOutcome Outcome, Robot? Robot)> Create(Robot robot);

    /// <summary>Removes (revokes) the robot; the removed record, or null when there was none.</summary>
    [Alias("delete")]
    Task<Robot?> Delete(string name);

    /// <summary>Records a use; written at most once a minute per robot, so a busy CI job costs no write per request.</summary>
    [OneWay, Alias("mark-used")]
    Task MarkUsed(string name, DateTimeOffset at);
}
