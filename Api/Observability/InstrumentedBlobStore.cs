using System.Diagnostics;
using System.Runtime.CompilerServices;
using Registry.Storage;

namespace Registry.Api.Observability;

/// <summary>
/// Wraps the storage driver and records each call's duration in <c>registry.storage.duration</c>,
/// labelled by operation. For the calls that return a stream, only opening it is timed.
/// </summary>
public sealed class InstrumentedBlobStore(IBlobStore inner, RegistryMetrics metrics) : IBlobStore
{
    public Task<long?> GetSizeAsync(string digest, CancellationToken cancellationToken)
        => TimeAsync("get_size", () => inner.GetSizeAsync(digest, cancellationToken));

    public Task<Stream?> OpenReadAsync(string digest, long offset, CancellationToken cancellationToken)
        => TimeAsync("open_read", () => inner.OpenReadAsync(digest, offset, cancellationToken));

    public Task PutAsync(string digest, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
        => TimeAsync("put", () => inner.PutAsync(digest, content, cancellationToken));

    public Task<bool> DeleteAsync(string digest, CancellationToken cancellationToken)
        => TimeAsync("delete", () => inner.DeleteAsync(digest, cancellationToken));

    public Task CreateUploadAsync(string uploadId, DateTimeOffset startedAt, CancellationToken cancellationToken)
        => TimeAsync("create_upload", () => inner.CreateUploadAsync(uploadId, startedAt, cancellationToken));

    public Task<Stream> OpenUploadWriterAsync(string uploadId, long offset, CancellationToken cancellationToken)
        => TimeAsync("open_upload_writer", () => inner.OpenUploadWriterAsync(uploadId, offset, cancellationToken));

    public Task<Stream> OpenUploadReaderAsync(string uploadId, long length, CancellationToken cancellationToken)
        => TimeAsync("open_upload_reader", () => inner.OpenUploadReaderAsync(uploadId, length, cancellationToken));

    public Task CommitUploadAsync(string uploadId, long length, string digest, CancellationToken cancellationToken)
        => TimeAsync("commit_upload", () => inner.CommitUploadAsync(uploadId, length, digest, cancellationToken));

    public Task DeleteUploadAsync(string uploadId, CancellationToken cancellationToken)
        => TimeAsync("delete_upload", () => inner.DeleteUploadAsync(uploadId, cancellationToken));

    public Task<bool> TouchAsync(string digest, CancellationToken cancellationToken)
        => TimeAsync("touch", () => inner.TouchAsync(digest, cancellationToken));

    public Task<bool> DeleteIfUnchangedAsync(string digest, string version, CancellationToken cancellationToken)
        => TimeAsync("delete_if_unchanged", () => inner.DeleteIfUnchangedAsync(digest, version, cancellationToken));

    /// <summary>Not timed: a collection's listing is paced by the collector, and its duration is in the collection's status.</summary>
    public IAsyncEnumerable<ListedBlob> ListBlobsAsync(CancellationToken cancellationToken) => inner.ListBlobsAsync(cancellationToken);

    public IAsyncEnumerable<StrayItem> ListStraysAsync(DateTimeOffset modifiedBefore, CancellationToken cancellationToken)
        => inner.ListStraysAsync(modifiedBefore, cancellationToken);

    public Task<bool> DeleteStrayIfUnchangedAsync(string name, string version, CancellationToken cancellationToken)
        => TimeAsync("delete_stray", () => inner.DeleteStrayIfUnchangedAsync(name, version, cancellationToken));

    public Task<bool> IsReachableAsync(CancellationToken cancellationToken)
        => TimeAsync("probe", () => inner.IsReachableAsync(cancellationToken));

    /// <summary>Times the whole listing, from the first item asked for to the last (a listing abandoned early is not recorded).</summary>
    public async IAsyncEnumerable<StagedUpload> ListUploadsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        await using var uploads = inner.ListUploadsAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
        while (true)
        {
            bool more;
            try
            {
                more = await uploads.MoveNextAsync();
            }
            catch
            {
                metrics.StorageCall("list_uploads", start, failed: true);
                throw;
            }

            if (!more)
            {
                break;
            }

            yield return uploads.Current;
        }

        metrics.StorageCall("list_uploads", start, failed: false);
    }

    private async Task<T> TimeAsync<T>(string operation, Func<Task<T>> call)
    {
        var start = Stopwatch.GetTimestamp();
        var failed = true;
        try
        {
            var result = await call();
            failed = false;
            return result;
        }
        finally
        {
            metrics.StorageCall(operation, start, failed);
        }
    }

    private async Task TimeAsync(string operation, Func<Task> call)
    {
        var start = Stopwatch.GetTimestamp();
        var failed = true;
        try
        {
            await call();
            failed = false;
        }
        finally
        {
            metrics.StorageCall(operation, start, failed);
        }
    }
}
