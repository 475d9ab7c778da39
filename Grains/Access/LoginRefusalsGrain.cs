namespace Registry.Grains;

/// <summary>
/// The cluster's recent login refusals (<see cref="ILoginRefusalsGrain"/>): a ring of the last
/// <see cref="Capacity"/> announcements under a random epoch, in memory like the counts it hears
/// from. A process that is behind or saw another epoch gets every refusal still in force.
/// </summary>
public sealed class LoginRefusalsGrain(TimeProvider time) : Grain, ILoginRefusalsGrain
{
    /// <summary>How many refusals are kept; more partitions refused at once only lose this shortcut (each replica still learns from its own reports).</summary>
    public const int Capacity = 4096;

    private readonly Guid _epoch = Guid.NewGuid();
    private readonly Queue<(string Partition, DateTimeOffset Until)> _recent = new();
    private long _sequence;

    public Task Refused(string partition, TimeSpan left)
    {
        _recent.Enqueue((partition, time.GetUtcNow() + left));
        if (_recent.Count > Capacity)
        {
            _recent.Dequeue();
        }

        _sequence++;
        return Task.CompletedTask;
    }

    public Task<LoginRefusals> Since(Guid epoch, long sequence)
    {
        var missed = _sequence - sequence;
        var all = epoch != _epoch || missed < 0 || missed > _recent.Count;
        var now = time.GetUtcNow();
        IReadOnlyList<LoginRefusal> refusals = missed == 0 && !all ? [] : [.. _recent
            .Skip(all ? 0 : _recent.Count - (int)missed)
            .Where(r => r.Until > now)
            .Select(r => new LoginRefusal(r.Partition, r.Until - now))];
        return Task.FromResult(new LoginRefusals(_epoch, _sequence, refusals));
    }
}
