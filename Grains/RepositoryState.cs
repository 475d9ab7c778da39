namespace Registry.Grains;

[GenerateSerializer, Alias("registry.repository-state")]
public sealed class RepositoryState
{
    [Id(0)] public Dictionary<string, TagState> Tags { get; set; } = new(StringComparer.Ordinal);

    [Id(1)] public Dictionary<string, ManifestDescriptor> Manifests { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Blobs this repository may serve, with their sizes.</summary>
    [Id(2)] public Dictionary<string, long> Blobs { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Subject digest → digests of the manifests that name it as their subject.</summary>
    [Id(3)] public Dictionary<string, List<string>> Referrers { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Counts every acknowledged tag change; each history entry carries the value it got.</summary>
    [Id(4)] public long Generation { get; set; }

    [Id(5)] public bool InCatalog { get; set; }

    /// <summary>Events of durable changes not yet known to be published (the outbox).</summary>
    [Id(6)] public List<OutboxEntry> Outbox { get; set; } = [];

    /// <summary>The sequence number of the last event put into the outbox.</summary>
    [Id(7)] public long EventSequence { get; set; }

    public bool IsEmpty => Tags.Count == 0 && Manifests.Count == 0 && Blobs.Count == 0;
}

[GenerateSerializer, Alias("registry.tag-state")]
public sealed class TagState
{
    [Id(0)] public string Digest { get; set; } = "";

    /// <summary>Acknowledged writes, oldest first (read newest first).</summary>
    [Id(1)] public List<TagHistoryEntry> History { get; set; } = [];
}

[GenerateSerializer, Alias("registry.outbox-entry")]
public sealed record OutboxEntry([property: Id(0)] long Sequence, [property: Id(1)] RegistryEvent Event);
