using Orleans.Concurrency;

namespace Registry.Grains;

[GenerateSerializer, Immutable, Alias("registry.upload-status")]
public sealed record UploadStatus(
    [property: Id(0)] string Repository,
    [property: Id(1)] long Offset,
    [property: Id(2)] DateTimeOffset StartedAt);

[GenerateSerializer, Alias("registry.chunk-grant")]
public enum ChunkGrant
{
    Granted = 0,
    UnknownUpload = 1,
    OffsetMismatch = 2,
    Busy = 3,
}

[GenerateSerializer, Immutable, Alias("registry.chunk-lease")]
public sealed record ChunkLease(
    [property: Id(0)] ChunkGrant Grant,
    [property: Id(1)] long Offset);

/// <summary>
/// One chunked upload, keyed by its session id. It tracks the offset, the parts staged so far
/// and when the session started; it never sees the bytes. One chunk is written at a time.
/// </summary>
[Alias("registry.upload-session")]
public interface IUploadSessionGrain : IGrainWithStringKey
{
    [RetryOnFailover]
    [Alias("start")]
    Task<UploadStatus> Start(string repository);

    [RetryOnFailover]
    [ReadOnly, Alias("status")]
    ValueTask<UploadStatus?> GetStatus(string repository);

    /// <summary>
    /// Reserves the session for one chunk that starts at <paramref name="start"/> (null: at the end),
    /// written by the process whose silo is <paramref name="writer"/>. A lease whose writer the
    /// cluster has declared dead is taken over: that process will never end its chunk.
    /// </summary>
    [RetryOnFailover]
    [Alias("begin-chunk")]
    Task<ChunkLease> BeginChunk(string repository, long? start, SiloAddress writer);

    /// <summary>Records a written chunk; null when the session ended (cancelled, expired) while it was written.</summary>
    [RetryOnFailover]
    [Alias("end-chunk")]
    Task<UploadStatus?> EndChunk(long start, long length);

    [RetryOnFailover]
    [Alias("abort-chunk")]
    Task AbortChunk();

    /// <summary>Ends the session: its staged bytes are committed or discarded by the caller.</summary>
    [RetryOnFailover]
    [Alias("finish")]
    Task Finish();

    /// <summary>Ends the session; the caller then removes its staged bytes (the byte path owns staging).</summary>
    [Alias("cancel")]
    Task<bool> Cancel(string repository);

    /// <summary>
    /// Ends the session when it started before <paramref name="cutoff"/> or is unknown (staged bytes
    /// left by a crash); true tells the caller to remove the staged bytes.
    /// </summary>
    [RetryOnFailover]
    [Alias("expire")]
    Task<bool> ExpireIfStartedBefore(DateTimeOffset cutoff);
}
