using Orleans.Runtime;

namespace Registry.Grains;

[GenerateSerializer, Alias("registry.upload-part")]
public sealed record UploadPart([property: Id(0)] long Offset, [property: Id(1)] long Length);

[GenerateSerializer, Alias("registry.upload-state")]
public sealed class UploadSessionState
{
    [Id(0)] public string Repository { get; set; } = "";

    [Id(1)] public DateTimeOffset StartedAt { get; set; }

    [Id(2)] public long Offset { get; set; }

    /// <summary>The parts staged so far, in order; a backend may stage each as its own object.</summary>
    [Id(3)] public List<UploadPart> Parts { get; set; } = [];
}

public sealed class UploadSessionGrain(
    [PersistentState(GrainStorageNames.UploadState, GrainStorageNames.Provider)] IPersistentState<UploadSessionState> state,
    IClusterMembershipService membership,
    TimeProvider time) : Grain, IUploadSessionGrain
{
    /// <summary>
    /// Whether a chunk is being written. Deliberately not persisted: when the process writing a
    /// chunk dies together with this activation, the session comes back elsewhere free to take the
    /// retried chunk; when only the writer dies, <see cref="_writer"/> tells (see BeginChunk).
    /// </summary>
    private bool _chunkInFlight;

    /// <summary>The silo of the process writing the chunk in flight.</summary>
    private SiloAddress? _writer;

    private string Id => this.GetPrimaryKeyString();

    public async Task<UploadStatus> Start(string repository)
    {
        state.State = new UploadSessionState { Repository = repository, StartedAt = time.GetUtcNow() };
        await state.WriteStateAsync();
        return Status();
    }

    public ValueTask<UploadStatus?> GetStatus(string repository)
        => ValueTask.FromResult(IsOpenFor(repository) ? Status() : null);

    public Task<ChunkLease> BeginChunk(string repository, long? start, SiloAddress writer)
    {
        if (!IsOpenFor(repository))
        {
            return Task.FromResult(new ChunkLease(ChunkGrant.UnknownUpload, 0));
        }

        var offset = state.State.Offset;
        if (_chunkInFlight && !WriterIsDead())
        {
            return Task.FromResult(new ChunkLease(ChunkGrant.Busy, offset));
        }

        if (start is { } s && s != offset)
        {
            return Task.FromResult(new ChunkLease(ChunkGrant.OffsetMismatch, offset));
        }

        _chunkInFlight = true;
        _writer = writer;
        DelayDeactivation(TimeSpan.FromHours(1));
        return Task.FromResult(new ChunkLease(ChunkGrant.Granted, offset));
    }

    public async Task<UploadStatus?> EndChunk(long start, long length)
    {
        _chunkInFlight = false;
        if (!state.RecordExists)
        {
            // Cancelled or expired while the chunk was written: its bytes went with the staging
            // area, and recording the chunk would bring back a session nobody can reach.
            return null;
        }

        if (length > 0 && state.State.Offset == start + length && state.State.Parts.LastOrDefault() == new UploadPart(start, length))
        {
            // Retried after a failover that lost the answer of an attempt already recorded.
            return Status();
        }

        if (start != state.State.Offset)
        {
            throw new InvalidOperationException($"chunk at {start} does not continue upload {Id} at {state.State.Offset}");
        }

        if (length > 0)
        {
            state.State.Parts.Add(new UploadPart(start, length));
            state.State.Offset = start + length;
            try
            {
                await state.WriteStateAsync();
            }
            catch
            {
                // The client is told the chunk failed, so the session must not count it either.
                state.State.Parts.RemoveAt(state.State.Parts.Count - 1);
                state.State.Offset = start;
                throw;
            }
        }

        return Status();
    }

    public Task AbortChunk()
    {
        _chunkInFlight = false;
        return Task.CompletedTask;
    }

    public async Task Finish()
    {
        _chunkInFlight = false;
        await state.ClearStateAsync();
        DeactivateOnIdle();
    }

    public async Task<bool> Cancel(string repository)
    {
        if (!IsOpenFor(repository))
        {
            return false;
        }

        await DiscardAsync();
        return true;
    }

    public async Task<bool> ExpireIfStartedBefore(DateTimeOffset cutoff)
    {
        if (state.RecordExists && state.State.StartedAt >= cutoff)
        {
            return false;
        }

        await DiscardAsync();
        return true;
    }

    private async Task DiscardAsync()
    {
        _chunkInFlight = false;
        await state.ClearStateAsync();
        DeactivateOnIdle();
    }

    /// <summary>
    /// Whether the cluster declared the writer of the chunk in flight dead: its chunk will never
    /// end (a silo declared dead is shut out of the cluster and stops itself) and what it staged
    /// past the offset is never recorded, so a retried chunk may take over.
    /// </summary>
    private bool WriterIsDead()
        => _writer is { } writer && membership.CurrentSnapshot.GetSiloStatus(writer) == SiloStatus.Dead;

    private bool IsOpenFor(string repository) => state.RecordExists && state.State.Repository == repository;

    private UploadStatus Status() => new(state.State.Repository, state.State.Offset, state.State.StartedAt);
}
