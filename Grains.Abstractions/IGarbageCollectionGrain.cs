namespace Registry.Grains;

/// <summary>
/// The owner of garbage collection, one per cluster (key 0): at most one collection runs at a time,
/// and the last one's figures are kept (docs/garbage-collection.md).
/// </summary>
[Alias("registry.garbage-collection")]
public interface IGarbageCollectionGrain : IGrainWithIntegerKey
{
    /// <summary>Starts a collection unless one is running; answers the running one either way.</summary>
    [Alias("start")]
    Task<GarbageCollectionStart> Start(bool dryRun);

    /// <summary>Starts again a collection that a crash interrupted (a silo's start calls it).</summary>
    [Alias("resume")]
    Task Resume();

    [Alias("status")]
    ValueTask<GarbageCollectionStatus> GetStatus();
}

[GenerateSerializer, Immutable, Alias("registry.gc-start")]
public sealed record GarbageCollectionStart(
    [property: Id(0)] bool Started,
    [property: Id(1)] GarbageCollectionRun Run);

/// <summary>A collection in progress (stored, so a crash leaves a trace the next start resumes).</summary>
[GenerateSerializer, Immutable, Alias("registry.gc-run")]
public sealed record GarbageCollectionRun(
    [property: Id(0)] string Id,
    [property: Id(1)] bool DryRun,
    [property: Id(2)] DateTimeOffset StartedAt,
    [property: Id(3)] int Attempt);

/// <summary>
/// The figures of one finished collection. Strays are crash leftovers (docs/garbage-collection.md);
/// uploads reclaimed are expired upload sessions whose staged bytes the collection removed;
/// repositories removed are those left empty and taken out of the catalog.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.gc-report")]
public sealed record GarbageCollectionReport(
    [property: Id(0)] string Id,
    [property: Id(1)] bool DryRun,
    [property: Id(2)] DateTimeOffset StartedAt,
    [property: Id(3)] DateTimeOffset FinishedAt,
    [property: Id(4)] long BlobsExamined,
    [property: Id(5)] long BytesExamined,
    [property: Id(6)] long BlobsReclaimed,
    [property: Id(7)] long BytesReclaimed,
    [property: Id(8)] IReadOnlyList<string> Digests,
    [property: Id(9)] string? Error,
    [property: Id(10)] int Attempt,
    [property: Id(11)] long RepositoriesMarked,
    [property: Id(12)] long StraysReclaimed = 0,
    [property: Id(13)] long StrayBytesReclaimed = 0,
    [property: Id(14)] long RepositoriesRemoved = 0,
    [property: Id(15)] long ManifestsRemoved = 0,
    [property: Id(16)] long LinksRemoved = 0,
    [property: Id(17)] long UploadsReclaimed = 0,
    [property: Id(18)] long UploadBytesReclaimed = 0);

[GenerateSerializer, Alias("registry.gc-status")]
public sealed class GarbageCollectionStatus
{
    [Id(0)] public GarbageCollectionRun? Running { get; set; }

    [Id(1)] public GarbageCollectionReport? Last { get; set; }
}
