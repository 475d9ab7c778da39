using Microsoft.Extensions.Logging;

namespace Registry.Grains;

/// <summary>
/// Keeps a repository's entry in the <see cref="IOutboxDirectoryGrain"/> true enough: recorded
/// before a state write first stores events in this activation (once per activation, not per
/// change), removed when the activation ends with an empty stored outbox. So after a crash every
/// stored outbox that holds events is found and published at the next silo start.
/// </summary>
/// <remarks>Not thread-safe: it runs on its grain's scheduler, like the grain.</remarks>
public sealed class OutboxRecord(string repository, Func<IOutboxDirectoryGrain> directory, ILogger logger)
{
    /// <summary>This activation has stored the record.</summary>
    private bool _recorded;

    /// <summary>A record may exist (stored by this activation or an earlier one); only then is one removed.</summary>
    private bool _mayExist;

    /// <summary>Whether this activation has stored the record.</summary>
    public bool Recorded => _recorded;

    /// <summary>Before a state write: records the repository if the write stores events and it is not recorded yet.</summary>
    public Task EnsureAsync(int outboxCount)
        => _recorded || outboxCount == 0 ? Task.CompletedTask : AddAsync();

    /// <summary>
    /// At activation, when the stored outbox holds events: they belong to a record already (or to
    /// data older than the directory); recording again is cheap and makes sure. Not fatal: the next
    /// write that stores events tries again.
    /// </summary>
    public async Task ActivatedAsync(int outboxCount)
    {
        try
        {
            await EnsureAsync(outboxCount);
        }
        catch (Exception e)
        {
            OutboxRecordLog.AddFailed(logger, e, repository);
        }
    }

    /// <summary>The directory woke this activation: it holds a record.</summary>
    public void Woken() => _mayExist = true;

    /// <summary>At deactivation: removes the record once nothing is left to publish; a failure leaves it for the next wake.</summary>
    public async Task ClearAsync(bool storedOutboxEmpty)
    {
        if (!_mayExist || !storedOutboxEmpty)
        {
            return;
        }

        try
        {
            await directory().Remove(repository);
            _recorded = _mayExist = false;
        }
        catch (Exception e)
        {
            // Harmless: the next silo start wakes the repository, finds nothing and removes it then.
            OutboxRecordLog.RemoveFailed(logger, e, repository);
        }
    }

    private async Task AddAsync()
    {
        _mayExist = true;
        await directory().Add(repository);
        _recorded = true;
    }
}

internal static partial class OutboxRecordLog
{
    [LoggerMessage(10, LogLevel.Information, "Could not remove {Repository} from the outbox directory; the next silo start removes it")]
    public static partial void RemoveFailed(ILogger logger, Exception exception, string repository);

    [LoggerMessage(11, LogLevel.Warning, "Could not record {Repository} in the outbox directory at activation; its next change tries again")]
    public static partial void AddFailed(ILogger logger, Exception exception, string repository);
}
