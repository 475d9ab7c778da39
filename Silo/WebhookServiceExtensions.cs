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
    /// use plus the waker that activates stored queues when the silo starts.
    /// </summary>
    public static IServiceCollection AddRegistryWebhooks(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<WebhookOptions>().Bind(configuration.GetSection(WebhookOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<WebhookOptions>, WebhookOptionsValidator>();
        services.TryAddSingleton(TimeProvider.System);
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
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, WebhookWaker>();
        return services;
    }
}

/// <summary>
/// Wakes every webhook queue that may hold events once the silo is active, and again every minute,
/// so that stored events go out after a restart (or after the silo that hosted a queue died) even
/// when no new event arrives for their namespace. When the silo stops, it cancels the POSTs in flight.
/// </summary>
internal sealed partial class WebhookWaker(IGrainFactory grains, WebhookSender sender, ILogger<WebhookWaker> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;

    public void Participate(ISiloLifecycle lifecycle)
        => lifecycle.Subscribe(nameof(WebhookWaker), ServiceLifecycleStage.Active, OnStartAsync, OnStopAsync);

    private Task OnStartAsync(CancellationToken cancellationToken)
    {
        _loop = Task.Run(() => RunAsync(_stop.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task OnStopAsync(CancellationToken cancellationToken)
    {
        sender.CancelAll();
        await _stop.CancelAsync();
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }

    private async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var queues = await grains.GetGrain<IWebhookDirectoryGrain>(0).Wake().WaitAsync(stop);
                if (queues > 0)
                {
                    WakeLog.Woke(logger, queues);
                }
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                WakeLog.WakeFailed(logger, e);
            }

            try
            {
                await Task.Delay(Interval, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}

internal static partial class WakeLog
{
    [LoggerMessage(1, LogLevel.Debug, "Woke {Count} webhook queues that may hold events")]
    public static partial void Woke(ILogger logger, int count);

    [LoggerMessage(2, LogLevel.Warning, "Could not wake the webhook queues; trying again in a minute")]
    public static partial void WakeFailed(ILogger logger, Exception exception);
}
