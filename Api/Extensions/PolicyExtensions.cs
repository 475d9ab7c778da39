using Registry.Api.Access;

namespace Registry.Api.Extensions;

public static class PolicyExtensions
{
    /// <summary>Role bindings and namespaces: the per-process policy cache (polling the cluster's change log) and the management API.</summary>
    public static void AddRegistryPolicy(this IServiceCollection services, bool enabled)
    {
        services.AddSingleton<PolicyCache>();
        if (enabled)
        {
            services.AddHostedService(sp => sp.GetRequiredService<PolicyCache>());
        }

        services.AddSingleton<PolicyEndpoints>();
    }

    /// <summary>Maps <c>/apis/registry/v1/namespaces…</c> and <c>/apis/registry/v1/clusterrolebindings…</c>.</summary>
    public static void MapRegistryPolicy(this WebApplication app) => PolicyEndpoints.Map(app, app.Services.GetRequiredService<PolicyEndpoints>());
}
