namespace Registry.Grains;

/// <summary>
/// Points in a repository change where a test host may end the process, to show that the outbox
/// loses nothing and invents nothing across a crash. Production registers none; the repository
/// grain works without one.
/// </summary>
public interface IRepositoryFaults
{
    /// <summary>A change is durable; its event is not published yet.</summary>
    void AfterStateWrite();

    /// <summary>
    /// A change's event is handed to the streams; its consumers may not have stored it yet.
    /// <paramref name="writeState"/> writes the state as it now is, as the next change's write would
    /// (with the removal of the published event, where the outbox does not wait for acknowledgements).
    /// </summary>
    Task AfterPublishAsync(Func<Task> writeState);

    /// <summary>
    /// Whether events are kept from the streams while changes are acknowledged, as if every push
    /// were followed by a crash before its consumers stored its event (the test then kills the process).
    /// </summary>
    bool HoldsEvents => false;
}
