using Registry.Grains;

namespace Registry.FaultHost;

/// <summary>Ends the process at once at the named crash point, saying which in its output (or holds events back, <see cref="HoldEvents"/>).</summary>
public sealed class CrashingFaults(string? point) : IRepositoryFaults
{
    public const string Variable = "REGISTRY_FAULT";

    public const string StateWritePoint = "after-state-write";

    public const string PublishPoint = "after-publish";

    /// <summary>Not a crash point: changes are acknowledged and their events never handed to the streams, until the test kills the process.</summary>
    public const string HoldEvents = "hold-events";

    public bool HoldsEvents => point == HoldEvents;

    public void AfterStateWrite()
    {
        if (point == StateWritePoint)
        {
            Environment.FailFast("REGISTRY_FAILPOINT after-state-write");
        }
    }

    public async Task AfterPublishAsync(Func<Task> writeState)
    {
        if (point == PublishPoint)
        {
            await writeState();
            Environment.FailFast("REGISTRY_FAILPOINT after-publish");
        }
    }
}
