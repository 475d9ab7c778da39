using Microsoft.Extensions.Options;
using Registry.Grains;
using Registry.Silo;

namespace Registry.Api.Extensions;

public static class WebhookExtensions
{
    /// <summary>Webhooks (<c>Registry:Webhooks</c>, see docs/notifications.md); bad settings stop the host at start.</summary>
    public static void AddRegistryWebhooks(this WebApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(WebhookOptions.Section).Get<WebhookOptions>() ?? new WebhookOptions();
        var failures = new WebhookOptionsValidator().Validate(null, options);
        if (failures.Failed)
        {
            throw new OptionsValidationException(WebhookOptions.Section, typeof(WebhookOptions), failures.Failures);
        }

        builder.Services.AddRegistryWebhooks(builder.Configuration);
    }
}
