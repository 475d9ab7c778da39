using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans.Runtime;
using Registry.Api.Json;
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

/// <summary>The probes' answer: <c>{"status":"Healthy","checks":{"name":{"status":..,"description":..,"error":..,"durationMs":..}}}</c>.</summary>
public static class HealthResponseWriter
{
    public static async Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(context.Response.Body, ToResponse(report), ApiJsonContext.Default.HealthResponse, context.RequestAborted);
    }

    internal static HealthResponse ToResponse(HealthReport report)
    {
        var checks = new Dictionary<string, HealthCheckEntry>(report.Entries.Count, StringComparer.Ordinal);
        foreach (var (name, entry) in report.Entries)
        {
            checks[name] = new HealthCheckEntry(entry.Status.ToString(), entry.Description, entry.Exception?.Message, Math.Round(entry.Duration.TotalMilliseconds, 2));
        }

        return new HealthResponse(report.Status.ToString(), checks);
    }
}

internal sealed record HealthResponse(string Status, IReadOnlyDictionary<string, HealthCheckEntry> Checks);

/// <summary>One check; <c>description</c> and <c>error</c> only when there are some.</summary>
internal sealed record HealthCheckEntry(
    string Status,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Description,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error,
    double DurationMs);
