using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Registry.Grains;

namespace Registry.Silo;

public static class WebhookServiceExtensions
{
    /// <summary>
    /// Webhooks: binds and validates <c>Registry:Webhooks</c>, and registers what the webhook grains
    /// use. The maintenance grain wakes stored queues (at silo start and every minute).
    /// </summary>
    public static IServiceCollection AddRegistryWebhooks(this IServiceCollection services, IConfiguration configuration)
    {
        // Checked here, once, so a bad endpoint stops the host while it is built; grains read it through IOptionsMonitor.
        configuration.BindValidated(WebhookOptions.Section, new WebhookOptionsValidator());
        services.AddOptions<WebhookOptions>().Bind(configuration.GetSection(WebhookOptions.Section));
        services.TryAddSingleton<WebhookSender>();
        services.TryAddSingleton<WebhookMetrics>();
        return services;
    }
}
