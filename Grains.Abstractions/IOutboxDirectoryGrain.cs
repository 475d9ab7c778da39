namespace Registry.Grains;

/// <summary>
/// The repositories whose stored outbox may hold events that have not reached every consumer
/// (key 0), so that each one is activated when a silo starts and publishes them again, even when
/// no request for it ever comes.
/// </summary>
[Alias("registry.outbox-directory")]
public interface IOutboxDirectoryGrain : IGrainWithIntegerKey
{
    /// <summary>Records a repository; returns once the record is stored.</summary>
    [Alias("add")]
    Task Add(string repository);

    [Alias("remove")]
    Task Remove(string repository);

    /// <summary>Wakes every recorded repository (<see cref="IRepositoryGrain.WakeOutbox"/>); returns how many there are.</summary>
    [Alias("wake")]
    Task<int> Wake();

    [Alias("list")]
    ValueTask<IReadOnlyList<string>> List();
}
