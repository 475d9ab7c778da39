namespace Registry.Grains;

/// <summary>
/// What a collection asks a repository to prune (<see cref="IRepositoryGrain.Prune"/>): untagged
/// manifests and links no manifest needs, each only when last pushed or used before <see cref="Cutoff"/>.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.prune-request")]
public sealed record PruneRequest(
    [property: Id(0)] bool RemoveUntagged,
    [property: Id(1)] bool RemoveUnusedLinks,
    [property: Id(2)] DateTimeOffset Cutoff,
    [property: Id(3)] bool DryRun);

/// <summary>
/// What a prune removed (in a dry run: would remove), and what the repository needs stored
/// afterwards (the collection's mark uses it, so a dry run counts the blobs the prune frees).
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.prune-result")]
public sealed record PruneResult(
    [property: Id(0)] IReadOnlyList<string> Manifests,
    [property: Id(1)] IReadOnlyList<string> Links,
    [property: Id(2)] RepositoryReferences References);
