using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Registry.Api.Extensions;
using Registry.Api.Oci;
using Registry.Grains;

namespace Registry.Api.Events;

/// <summary>
/// Publishes refused requests (those the access audit records within its per-second budget) as
/// <see cref="RegistryEvent"/>s with <see cref="RegistryEvent.Refusal"/> set, to
/// <see cref="RegistryStreams.All"/> (in-process subscribers of every replica) and to
/// <see cref="RegistryStreams.Refusals"/> (their own event log, for admin watches, and their own
/// webhook queues, for endpoints that opt in).
/// </summary>
/// <remarks>
/// Best-effort, unlike image events: a refusal changes nothing, so it has no outbox; the request
/// is answered without waiting, events wait in a bounded queue (full: dropped and counted) and
/// are lost if the process dies before the stream has them. Image events keep their own
/// namespace keys, so their order, outbox and webhook queues are untouched by refusals.
/// </remarks>
public sealed class RefusalEvents : BackgroundService
{
    /// <summary>Events waiting to be published; beyond it new ones are dropped.</summary>
    public const int Capacity = 1024;

    /// <summary>The most events in one publish (as a repository's group commit publishes at most 32).</summary>
    private const int MaxBatch = 32;

    private readonly IClusterClient _client;
    private readonly Lazy<EventSourceReplica> _source;
    private readonly ILogger<RefusalEvents> _logger;
    private readonly Counter<long> _dropped;
    private readonly Channel<RegistryEvent> _queue = Channel.CreateBounded<RegistryEvent>(new BoundedChannelOptions(Capacity)
    {
        FullMode = BoundedChannelFullMode.Wait,
        SingleReader = true,
    });

    public RefusalEvents(IClusterClient client, IServiceProvider services, RegistryMeter meter, ILogger<RefusalEvents> logger)
    {
        _client = client;
        _logger = logger;

        // The bound address is known once the server runs, as for image events' source.
        _source = new Lazy<EventSourceReplica>(() => new EventSourceReplica(OciEndpointExtensions.ListenAuthority(services), OciEndpointExtensions.InstanceId));
        _dropped = meter.Meter.CreateCounter<long>("registry.access.refusal_events_dropped", "{event}", "Refusal events not published: the queue to the event streams was full or publishing failed.");
    }

    /// <summary>Queues the event of one refusal (the access audit calls it only within its budget); never waits.</summary>
    public void Publish(HttpContext context, string id, string action, int status, string? actor, string scope, string reason, string addr, string path)
    {
        var request = context.Request;
        var e = new RegistryEvent(
            id,
            DateTimeOffset.UtcNow,
            action,
            new EventTarget(null, null, 0, RepositoryOf(scope), null, null, null),
            new EventRequest(context.TraceIdentifier, addr, Truncate(request.Host.Value ?? "", 256), request.Method, Truncate(request.Headers.UserAgent.ToString(), 256)),
            actor,
            _source.Value,
            0)
        {
            Refusal = new AccessRefusal(status, reason, Truncate(scope, 1024), Truncate(path, 1024)),
        };
        if (!_queue.Writer.TryWrite(e))
        {
            _dropped.Add(1);
        }
    }

    /// <summary>The repository of the first <c>repository:</c> scope, or "" (a login, the registry, an unreadable name).</summary>
    internal static string RepositoryOf(string scope)
    {
        foreach (var item in scope.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (item.StartsWith("repository:", StringComparison.Ordinal) && item.LastIndexOf(':') is var last and > 11)
            {
                var name = item[11..last];
                return References.IsValidName(name) ? name : "";
            }
        }

        return "";
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stoppingToken))
            {
                var batch = new List<RegistryEvent>(MaxBatch);
                while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var e))
                {
                    batch.Add(e);
                }

                try
                {
                    var provider = _client.GetStreamProvider(RegistryStreams.Provider);
                    await provider.GetStream<RegistryEvent>(RegistryStreams.All).OnNextBatchAsync(batch);
                    await provider.GetStream<RegistryEvent>(RegistryStreams.Refusals).OnNextBatchAsync(batch);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // Best-effort: the refusal is in the log (and audit file) already.
                    _dropped.Add(batch.Count);
                    RefusalEventsLog.PublishFailed(_logger, ex, batch.Count);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static string Truncate(string value, int max) => value.Length > max ? value[..max] : value;
}

internal static partial class RefusalEventsLog
{
    [LoggerMessage(1, LogLevel.Warning, "Could not publish {Count} refusal event(s) to the event streams; they are in the access log only")]
    public static partial void PublishFailed(ILogger logger, Exception exception, int count);
}
