using Registry.Grains;

namespace Registry.FaultHost;

/// <summary>Ends the process at once at the named crash point, saying which in its output.</summary>
public sealed class CrashingFaults(string? point) : IRepositoryFaults
{
    public const string Variable = "REGISTRY_FAULT";

    public const string StateWritePoint = "after-state-write";

    public const string PublishPoint = "after-publish";

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
