namespace Registry.Grains;

/// <summary>
/// The repositories whose stored outbox may hold events that have not reached every consumer
/// (key 0), so that each one is activated when a silo starts and publishes them again, even when
/// no request for it ever comes.
/// </summary>
[Alias("registry.outbox-directory")]
public interface IOutboxDirectoryGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Records a repository; returns once the record is stored. Idempotent, and on the path of a
    /// repository's first write of an activation: retried on failover so that write does not fail
    /// when this grain's silo dies.
    /// </summary>
    [RetryOnFailover]
    [Alias("add")]
    Task Add(string repository);

    /// <summary>Not retried on failover: a failure is harmless (the next wake removes the record), and a retry would hold up the deactivation that calls it.</summary>
    [Alias("remove")]
    Task Remove(string repository);

    /// <summary>
    /// Wakes every recorded repository (<see cref="IRepositoryGrain.WakeOutbox"/>); returns how many
    /// there are. Not retried on failover: the maintenance tick calls it again.
    /// </summary>
    [Alias("wake")]
    Task<int> Wake();

    [RetryOnFailover]
    [Alias("list")]
    ValueTask<IReadOnlyList<string>> List();
}
