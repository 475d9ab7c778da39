namespace Registry.Grains;

/// <summary>
/// Coalesces the state writes of a reentrant grain. A caller changes the state in memory within
/// one turn, then awaits <see cref="CommitAsync"/>, which returns once a write that began after
/// the change has completed. Changes made while a write is in flight share the next write, so N
/// concurrent callers cost far fewer than N writes, and each is acknowledged only when durable.
/// </summary>
/// <param name="write">Writes the grain's state.</param>
/// <param name="onFailure">
/// Runs when a write fails; grains pass <c>DeactivateOnIdle</c>, so the next call reloads what is
/// really stored instead of serving a change that was never acknowledged.
/// </param>
public sealed class GroupCommit(Func<Task> write, Action? onFailure = null)
{
    private long _changed;
    private long _durable;
    private Task? _inFlight;
    private Exception? _failure;

    public async Task CommitAsync()
    {
        try
        {
            await CommitCoreAsync();
        }
        catch
        {
            onFailure?.Invoke();
            throw;
        }
    }

    private async Task CommitCoreAsync()
    {
        var mine = ++_changed;
        while (_durable < mine)
        {
            if (_failure is not null)
            {
                throw new InvalidOperationException("An earlier state write failed; the activation is being replaced.", _failure);
            }

            if (_inFlight is not { IsCompleted: false })
            {
                _inFlight = WriteAsync();
            }

            await _inFlight;
        }
    }

    private async Task WriteAsync()
    {
        var covering = _changed;
        try
        {
            await write();
            _durable = Math.Max(_durable, covering);
        }
        catch (Exception e)
        {
            _failure = e;
            throw;
        }
    }
}
