namespace Registry.Storage;

/// <summary>
/// The one owner of upload staging areas: the byte path creates, writes, reads back, commits and
/// discards them only through this class, and the expiry sweep lists them through it. Grains keep
/// the facts of a session (offset, parts, start time) and never touch staging.
/// </summary>
public sealed class UploadStaging(IBlobStore store)
{
    /// <summary>Creates the empty staging area of a new upload; one that fails half-way is removed again.</summary>
    public async Task CreateAsync(string uploadId, DateTimeOffset startedAt, CancellationToken cancellationToken)
    {
        try
        {
            await store.CreateUploadAsync(uploadId, startedAt, cancellationToken);
        }
        catch
        {
            await store.DeleteUploadAsync(uploadId, CancellationToken.None);
            throw;
        }
    }

    /// <summary>Opens a writer from <paramref name="offset"/> on; throws <see cref="UploadUnknownException"/> when the area is gone.</summary>
    public Task<Stream> OpenWriterAsync(string uploadId, long offset, CancellationToken cancellationToken)
        => store.OpenUploadWriterAsync(uploadId, offset, cancellationToken);

    /// <summary>Reads the first <paramref name="length"/> staged bytes back (to rebuild a running hash).</summary>
    public Task<Stream> OpenReaderAsync(string uploadId, long length, CancellationToken cancellationToken)
        => store.OpenUploadReaderAsync(uploadId, length, cancellationToken);

    /// <summary>Makes the staged bytes the blob <paramref name="digest"/> (verified by the caller) and removes the area.</summary>
    public Task CommitAsync(string uploadId, long length, string digest)
        => store.CommitUploadAsync(uploadId, length, digest, CancellationToken.None);

    /// <summary>Removes the staging area and its bytes; not cancellable, so a failed request leaves nothing behind.</summary>
    public Task DiscardAsync(string uploadId) => store.DeleteUploadAsync(uploadId, CancellationToken.None);

    /// <summary>
    /// Removes the staging areas of uploads started before <paramref name="cutoff"/> once
    /// <paramref name="expire"/> has ended their session (false: the session is not expired after
    /// all, and its area stays); a dry run removes nothing and yields what it would. Yields each
    /// area reclaimed with the bytes it held. One that fails goes to <paramref name="failed"/>, and
    /// the others are still reclaimed.
    /// </summary>
    public async IAsyncEnumerable<StagedUpload> ReclaimStartedBeforeAsync(
        DateTimeOffset cutoff,
        bool dryRun,
        Func<StagedUpload, Task<bool>> expire,
        Action<StagedUpload, Exception> failed,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var upload in ListStartedBeforeAsync(cutoff, cancellationToken))
        {
            bool reclaimed;
            try
            {
                // The session ends first: a crash before the bytes go leaves an area the next run removes.
                reclaimed = dryRun || await expire(upload);
                if (reclaimed && !dryRun)
                {
                    await DiscardAsync(upload.UploadId);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                failed(upload, e);
                reclaimed = false;
            }

            if (reclaimed)
            {
                yield return upload;
            }
        }
    }

    /// <summary>The staging areas whose upload started before <paramref name="cutoff"/>.</summary>
    public async IAsyncEnumerable<StagedUpload> ListStartedBeforeAsync(DateTimeOffset cutoff, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var upload in store.ListUploadsAsync(cancellationToken))
        {
            if (upload.StartedAt < cutoff)
            {
                yield return upload;
            }
        }
    }
}
