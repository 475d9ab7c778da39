using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans.Runtime;
using Registry.Storage;

namespace Registry.Api.Observability;

/// <summary>
/// Startup: healthy once the co-hosted silo has run its whole start lifecycle (stage Active),
/// unhealthy again once it begins to stop.
/// </summary>
public sealed class SiloStartedCheck : IHealthCheck, ILifecycleParticipant<ISiloLifecycle>
{
    private volatile bool _started;

    public void Participate(ISiloLifecycle lifecycle)
        => lifecycle.Subscribe(
            nameof(SiloStartedCheck),
            ServiceLifecycleStage.Active,
            _ =>
            {
                _started = true;
                return Task.CompletedTask;
            },
            _ =>
            {
                _started = false;
                return Task.CompletedTask;
            });

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        => Task.FromResult(_started
            ? HealthCheckResult.Healthy("the silo has started")
            : HealthCheckResult.Unhealthy("the silo has not started yet (or is stopping)"));
}

/// <summary>Readiness: the local silo is Active in the cluster's membership as this silo sees it.</summary>
public sealed class SiloMembershipCheck(ILocalSiloDetails local, IClusterMembershipService membership) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var snapshot = membership.CurrentSnapshot;
        var status = snapshot.GetSiloStatus(local.SiloAddress);
        var description = $"silo {local.SiloAddress} is {status} in membership version {snapshot.Version}";
        return Task.FromResult(status == SiloStatus.Active
            ? HealthCheckResult.Healthy(description)
            : HealthCheckResult.Unhealthy(description));
    }
}

/// <summary>Readiness: the storage driver answers its probe.</summary>
public sealed class StorageCheck(IBlobStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        => await store.IsReachableAsync(cancellationToken)
            ? HealthCheckResult.Healthy("the storage driver answers")
            : HealthCheckResult.Unhealthy("the storage driver is unreachable or refuses writes");
}
