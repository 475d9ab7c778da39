namespace Registry.Api.Extensions;

/// <summary>Runs one piece of initialization (such as creating a storage container) before the host serves.</summary>
internal sealed class StartupTask(Func<CancellationToken, Task> run) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => run(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
