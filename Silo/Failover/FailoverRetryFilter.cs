using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Reflection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime.Messaging;
using Orleans.Serialization;
using Registry.Grains;

namespace Registry.Silo.Failover;

/// <summary>
/// Absorbs a silo's death inside the call: a call to a method marked
/// <see cref="RetryOnFailoverAttribute"/> that fails because the silo holding its grain (or the
/// grain's directory entry) is unreachable or dead is sent again, with backoff, until the cluster
/// has declared that silo dead and the grain answers from a survivor — within
/// <see cref="SiloOptions.FailoverRetryBudget"/>, after which the last failure is thrown (503 on HTTP).
/// Every other call, and every other failure, passes through untouched.
/// </summary>
internal sealed partial class FailoverRetryFilter(
    IOptions<RegistryOptions> options,
    FailoverMetrics metrics,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    DeepCopier copier,
    ILogger<FailoverRetryFilter> logger) : IOutgoingGrainCallFilter
{
    private static readonly ConcurrentDictionary<MethodInfo, RetryOnFailoverAttribute?> Marks = new();

    private readonly TimeSpan _budget = options.Value.Cluster.FailoverRetryBudget;

    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        var mark = MarkOf(context.InterfaceMethod);
        if (mark is null || _budget <= TimeSpan.Zero)
        {
            await context.Invoke();
            return;
        }

        if (mark.WithCallId)
        {
            // Set inside this (async) method, so it rides this call and its retries only.
            RequestContext.Set(FailoverCall.ContextKey, Guid.NewGuid().ToString("N"));
        }

        // An attempt that ran on this silo leaves the request's arguments cleared (see CallArguments):
        // each retry sends the arguments as they were before the first attempt.
        var request = context.Request;
        var arguments = CallArguments.Of(request, copier);
        var attempts = 0;
        await RetryAsync(
            () =>
            {
                if (attempts++ > 0)
                {
                    arguments.RestoreInto(request, copier);
                }

                return context.Invoke();
            },
            context.InterfaceName,
            context.MethodName);
    }

    /// <summary>Runs <paramref name="attempt"/> until it succeeds, fails otherwise than by a silo failure, or the budget is spent.</summary>
    internal async Task RetryAsync(Func<Task> attempt, string @interface, string method)
    {
        var started = time.GetTimestamp();
        for (var n = 1; ; n++)
        {
            try
            {
                await attempt();
                if (n > 1)
                {
                    metrics.Absorbed(@interface, method);
                    LogAbsorbed(logger, @interface, method, n, time.GetElapsedTime(started).TotalMilliseconds);
                }

                return;
            }
            catch (Exception e) when (IsSiloFailure(e))
            {
                var elapsed = time.GetElapsedTime(started);
                var delay = Backoff(n);
                if (elapsed + delay > _budget || lifetime.ApplicationStopping.IsCancellationRequested)
                {
                    metrics.GaveUp(@interface, method);
                    LogGaveUp(logger, @interface, method, n, elapsed.TotalMilliseconds, e.GetType().Name);
                    throw;
                }

                LogRetrying(logger, @interface, method, n, e.GetType().Name, e.Message);
                await Task.Delay(delay, time);
            }
        }
    }

    /// <summary>
    /// The failures that mean "the silo of this grain, or of its directory entry, is gone or not
    /// reachable": they end once the cluster declares it dead and the grain moves. A timeout is
    /// not among them: it may be a live grain that is slow, and it comes after the budget anyway.
    /// </summary>
    internal static bool IsSiloFailure(Exception e) => e is SiloUnavailableException
        or OrleansMessageRejectionException
        or ConnectionFailedException;

    /// <summary>100, 200, 400, 800 ms, then every second, each ± 20 %: death is declared in seconds.</summary>
    internal static TimeSpan Backoff(int attempt)
    {
        var ms = Math.Min(1000, 100 * (1 << Math.Min(attempt - 1, 4)));
        return TimeSpan.FromMilliseconds(ms * (0.8 + (0.4 * Random.Shared.NextDouble())));
    }

    internal static RetryOnFailoverAttribute? MarkOf(MethodInfo method)
        => Marks.GetOrAdd(method, m => m.GetCustomAttribute<RetryOnFailoverAttribute>());

    [LoggerMessage(1, LogLevel.Debug, "{Interface}.{Method} attempt {Attempt} failed with {Exception} ({Message}); retrying while the cluster moves the grain")]
    private static partial void LogRetrying(ILogger logger, string @interface, string method, int attempt, string exception, string message);

    [LoggerMessage(2, LogLevel.Information, "{Interface}.{Method} succeeded at attempt {Attempt}, {ElapsedMs:F0} ms after the first: a silo failure was absorbed")]
    private static partial void LogAbsorbed(ILogger logger, string @interface, string method, int attempt, double elapsedMs);

    [LoggerMessage(3, LogLevel.Warning, "{Interface}.{Method} still failed after {Attempt} attempts in {ElapsedMs:F0} ms ({Exception}): the failover retry budget is spent")]
    private static partial void LogGaveUp(ILogger logger, string @interface, string method, int attempt, double elapsedMs, string exception);
}

/// <summary>What the failover retries did: calls they saved, and calls that failed all the same.</summary>
internal sealed class FailoverMetrics
{
    private readonly Counter<long> _retried;

    public FailoverMetrics(RegistryMeter registry)
        => _retried = registry.Meter.CreateCounter<long>(
            "registry.grain_calls.failover_retried",
            "{call}",
            "Grain calls retried because the silo of their grain died; outcome=absorbed succeeded within the budget (Registry:Cluster:FailoverRetryBudget), outcome=gave_up failed all the same.");

    public void Absorbed(string @interface, string method) => Record(@interface, method, "absorbed");

    public void GaveUp(string @interface, string method) => Record(@interface, method, "gave_up");

    private void Record(string @interface, string method, string outcome)
        => _retried.Add(1, new("interface", @interface), new("method", method), new("outcome", outcome));
}
