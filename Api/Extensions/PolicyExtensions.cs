using Registry.Api.Access;

namespace Registry.Api.Extensions;

public static class PolicyExtensions
{
    /// <summary>
    /// Role bindings and namespaces: the per-process policy cache (polling the cluster's change log)
    /// and the management API. The cache polls with access control off too: immutable tag rules live in policy.
    /// </summary>
    public static void AddRegistryPolicy(this IServiceCollection services)
    {
        services.AddSingleton<PolicyCache>();
        services.AddHostedService(sp => sp.GetRequiredService<PolicyCache>());

        services.AddSingleton<PolicyEndpoints>();
    }

    /// <summary>Maps <c>/apis/registry/v1/namespaces…</c> and <c>/apis/registry/v1/clusterrolebindings…</c>.</summary>
    public static void MapRegistryPolicy(this WebApplication app) => PolicyEndpoints.Map(app, app.Services.GetRequiredService<PolicyEndpoints>());
}
