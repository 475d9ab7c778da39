using Microsoft.Extensions.DependencyInjection.Extensions;
using Registry.Api.Access;
using Registry.Api.Events;
using Registry.Grains;

namespace Registry.Api.Extensions;

public static class EventExtensions
{
    /// <summary>
    /// Registers an in-process subscriber to every registry event (a singleton). Call it on the
    /// host's builder, before or after the rest of the registry is added.
    /// </summary>
    public static IServiceCollection AddRegistryEventSubscriber<T>(this IServiceCollection services)
        where T : class, IRegistryEventSubscriber
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IRegistryEventSubscriber, T>());
        return services;
    }

    /// <summary>Registers an existing instance as an in-process subscriber to every registry event.</summary>
    public static IServiceCollection AddRegistryEventSubscriber(this IServiceCollection services, IRegistryEventSubscriber subscriber)
    {
        services.AddSingleton(subscriber);
        return services;
    }

    /// <summary>
    /// Event consumers of the HTTP host: the dispatcher that feeds <see cref="IRegistryEventSubscriber"/>s
    /// (the audit log when <c>Registry:Audit:Path</c> is set) and the watch endpoint.
    /// Call after the silo is added: the dispatcher subscribes once the silo has started.
    /// </summary>
    public static void AddRegistryEvents(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        var configuration = builder.Configuration;
        services.AddOptions<WatchOptions>()
            .Bind(configuration.GetSection(WatchOptions.Section))
            .Validate(o => o.Heartbeat > TimeSpan.Zero, "Registry:Events:Watch:Heartbeat must be a positive duration such as 00:00:15.")
            .ValidateOnStart();
        services.AddOptions<AuditOptions>().Bind(configuration.GetSection(AuditOptions.Section));
        if (!string.IsNullOrWhiteSpace(configuration[$"{AuditOptions.Section}:Path"]))
        {
            services.AddRegistryEventSubscriber<AuditLogSubscriber>();
        }

        // In-process subscribers are consumers the outbox waits for too, where it waits at all (embedded).
        services.AddOptions<EventOutboxOptions>().PostConfigure<IEnumerable<IRegistryEventSubscriber>>((o, subscribers) =>
        {
            if (subscribers.Any())
            {
                o.Consumers |= EventConsumers.Subscribers;
            }
        });
        services.AddSingleton<RegistryEventDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<RegistryEventDispatcher>());
        services.AddSingleton<WatchEndpoint>();

        // Refused requests as events (the access audit hands them over within its budget).
        services.AddSingleton<RefusalEvents>();
        services.AddHostedService(sp => sp.GetRequiredService<RefusalEvents>());
    }

    /// <summary>Maps the watch endpoint, <c>GET /apis/registry/v1/watch</c>.</summary>
    public static void MapRegistryEvents(this WebApplication app)
    {
        var watch = app.Services.GetRequiredService<WatchEndpoint>();
        app.MapGet(WatchEndpoint.Path, (Func<HttpContext, Task>)watch.HandleAsync).RequireRegistryCaller();
    }
}
