using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Polly;
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

        // One pool for the process (connections are recycled, so the handler need not be).
        // Only a per-attempt timeout here, no retry and no circuit breaker: the queue grain owns
        // the durable retry schedule and an endpoint's failing state, which these would multiply or hide.
        services.AddHttpClient(WebhookSender.ClientName, client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                AllowAutoRedirect = false,
                UseCookies = false,
                PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            })
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            .RemoveAllLoggers()
            .AddResilienceHandler("attempt-timeout", pipeline => pipeline
                // The queue grain logs every failed attempt with its outcome already.
                .ConfigureTelemetry(NullLoggerFactory.Instance)
                .AddTimeout(new HttpTimeoutStrategyOptions
                {
                    TimeoutGenerator = args => ValueTask.FromResult(WebhookSender.AttemptTimeout(args.Context.GetRequestMessage())),
                }));
        services.TryAddSingleton<WebhookMetrics>();
        return services;
    }
}
