namespace Registry.Grains;

/// <summary>
/// The recent policy changes of the cluster, in memory (<see cref="IPolicyVersionGrain"/>). It
/// needs no state: a new activation is a new epoch, and a process that sees a new epoch drops
/// everything it cached, so a change announced to a lost activation is still never missed.
/// </summary>
public sealed class PolicyVersionGrain : Grain, IPolicyVersionGrain
{
    /// <summary>How many changes are kept; a process further behind refetches everything it caches.</summary>
    public const int Capacity = 4096;

    private readonly Guid _epoch = Guid.NewGuid();
    private readonly Queue<PolicyChange> _recent = new();
    private long _sequence;

    public Task Changed(string scope, long version, bool tagRules = false)
    {
        _recent.Enqueue(new PolicyChange(scope, version, tagRules));
        if (_recent.Count > Capacity)
        {
            _recent.Dequeue();
        }

        _sequence++;
        return Task.CompletedTask;
    }

    public Task<PolicyChanges> Since(Guid epoch, long sequence)
    {
        var missed = _sequence - sequence;
        if (epoch != _epoch || missed < 0 || missed > _recent.Count)
        {
            return Task.FromResult(new PolicyChanges(_epoch, _sequence, null));
        }

        IReadOnlyList<PolicyChange> changes = missed == 0 ? [] : [.. _recent.Skip(_recent.Count - (int)missed)];
        return Task.FromResult(new PolicyChanges(_epoch, _sequence, changes));
    }
}
