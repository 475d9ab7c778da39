using Registry.Api.Lifecycle;

namespace Registry.Api.Extensions;

public static class QuotaExtensions
{
    /// <summary>Namespace quotas' management API (docs/quotas.md); the enforcement is the repository grain's.</summary>
    public static void AddRegistryQuotas(this WebApplicationBuilder builder)
        => builder.Services.AddSingleton<QuotaEndpoints>();

    public static void MapRegistryQuotas(this WebApplication app)
        => QuotaEndpoints.Map(app, app.Services.GetRequiredService<QuotaEndpoints>());
}
