using Registry.Api.Lifecycle;

namespace Registry.Api.Extensions;

public static class RetentionExtensions
{
    /// <summary>Retention policies (docs/retention.md): their API, runs and scheduled runs. Pull tracking is the OCI API's (<see cref="PullRecorder"/>).</summary>
    public static void AddRegistryRetention(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<RetentionRunner>();
        builder.Services.AddSingleton<RetentionEndpoints>();
        builder.Services.AddSingleton<RetentionScheduler>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RetentionScheduler>());
    }

    /// <summary>Maps <c>/apis/registry/v1/namespaces/{ns}/retentionpolicies</c> and <c>/apis/registry/v1/retentionpolicies</c>, with access control on or off.</summary>
    public static void MapRegistryRetention(this WebApplication app)
        => RetentionEndpoints.Map(app, app.Services.GetRequiredService<RetentionEndpoints>());
}
