using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using Registry.Api.Observability;
using Registry.Grains;
using Registry.Storage;

namespace Registry.Api.Extensions;

public static class ObservabilityExtensions
{
    public const string LiveTag = "live";
    public const string ReadyTag = "ready";
    public const string StartupTag = "startup";

    /// <summary>The storage probe's budget; a slower answer counts as unreachable.</summary>
    private static readonly TimeSpan StorageProbeTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Health checks for the three probes and OpenTelemetry metrics for the Prometheus endpoint.
    /// Call after the storage driver is registered: it wraps the driver to time its calls.
    /// </summary>
    public static void AddRegistryObservability(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton<RegistryMetrics>();
        services.DecorateBlobStore((sp, inner) => new InstrumentedBlobStore(inner, sp.GetRequiredService<RegistryMetrics>()));

        services.AddSingleton<SiloStartedCheck>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<SiloStartedCheck>());
        services.AddHealthChecks()
            .AddCheck("process", () => HealthCheckResult.Healthy("the process answers"), [LiveTag])
            .AddCheck<SiloStartedCheck>("silo-started", tags: [StartupTag])
            .AddCheck<SiloMembershipCheck>("silo-membership", tags: [ReadyTag])
            .AddCheck<StorageCheck>("storage", tags: [ReadyTag], timeout: StorageProbeTimeout);

        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("registry"))
            .WithMetrics(metrics => metrics
            .AddMeter(RegistryTelemetry.MeterName)
            .AddMeter("Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel")
            .AddMeter("Microsoft.Orleans")
            .AddView(instrument => new MetricStreamConfiguration { CardinalityLimit = CardinalityLimit(instrument) })
            .AddPrometheusExporter());
    }

    /// <summary>
    /// How many tag combinations a metric keeps. OpenTelemetry allocates that many points up front
    /// for every instrument (2,000 by default, ~20 MiB over the ~140 instruments here); every tag
    /// this registry and Orleans use has a handful of values, HTTP metrics route × method × status;
    /// the quota gauges one per namespace (docs/quotas.md).
    /// </summary>
    private static int CardinalityLimit(Instrument instrument)
        => instrument.Meter.Name.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal) ? 500
            : instrument.Name.StartsWith("registry.quota.", StringComparison.Ordinal) ? Grains.QuotaNamespaces.MaxExported + 1
            : 50;

    /// <summary>Maps <c>/livez</c>, <c>/readyz</c>, <c>/startupz</c> and the Prometheus scrape endpoint <c>/metrics</c>.</summary>
    public static void MapRegistryObservability(this WebApplication app)
    {
        app.MapHealthChecks("/livez", Probe(LiveTag));
        app.MapHealthChecks("/readyz", Probe(ReadyTag));
        app.MapHealthChecks("/startupz", Probe(StartupTag));
        app.MapPrometheusScrapingEndpoint("/metrics");
    }

    /// <summary>Replaces the registered <see cref="IBlobStore"/> with <paramref name="decorate"/> applied to it.</summary>
    private static void DecorateBlobStore(this IServiceCollection services, Func<IServiceProvider, IBlobStore, IBlobStore> decorate)
    {
        var index = -1;
        for (var i = services.Count - 1; i >= 0; i--)
        {
            if (services[i].ServiceType == typeof(IBlobStore) && !services[i].IsKeyedService)
            {
                index = i;
                break;
            }
        }

        if (index < 0)
        {
            throw new InvalidOperationException("No storage driver (IBlobStore) is registered: register one before AddRegistryObservability.");
        }

        var inner = services[index];
        services[index] = ServiceDescriptor.Singleton<IBlobStore>(sp => decorate(sp, inner switch
        {
            { ImplementationInstance: IBlobStore instance } => instance,
            { ImplementationFactory: { } factory } => (IBlobStore)factory(sp),
            _ => (IBlobStore)ActivatorUtilities.CreateInstance(sp, inner.ImplementationType!),
        }));
    }

    private static HealthCheckOptions Probe(string tag) => new()
    {
        Predicate = check => check.Tags.Contains(tag),
        ResponseWriter = HealthResponseWriter.WriteAsync,
        AllowCachingResponses = false,
    };
}
