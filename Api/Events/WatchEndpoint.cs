using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Registry.Api.Json;
using Registry.Api.Oci;
using Registry.Grains;

namespace Registry.Api.Events;

/// <summary>The <c>Registry:Events:Watch</c> section.</summary>
public sealed class WatchOptions
{
    public const string Section = "Registry:Events:Watch";

    /// <summary>A comment line is sent after this long without anything else, so idle connections stay open.</summary>
    public TimeSpan Heartbeat { get; set; } = TimeSpan.FromSeconds(15);
}

/// <summary>
/// <c>GET /apis/registry/v1/watch?namespace=&lt;ns&gt;[&amp;repository=&lt;name&gt;][&amp;since=&lt;id&gt;]</c>:
/// the events of a namespace as server-sent events, read from the namespace's event log grain,
/// so a watch on any replica sees changes made through every replica. With access control on,
/// a caller sees the events of the repositories it may pull (<see cref="WatchVisibility"/>).
/// Written by hand rather than with <c>TypedResults.ServerSentEvents</c>: that result sends no
/// headers before the first event, cannot send comments (heartbeats) and gives every block a
/// <c>data</c> line (so no id-only blocks), all of which clients of this stream rely on.
/// </summary>
public sealed class WatchEndpoint(IGrainFactory grains, IOptions<WatchOptions> options, IHostApplicationLifetime lifetime, ILogger<WatchEndpoint> logger)
{
    public const string Path = "/apis/registry/v1/watch";

    /// <summary>The stream key of the empty namespace (single-component repository names).</summary>
    public const string EmptyNamespace = "_";

    private const int PageSize = 256;

    /// <summary>How long one long poll of the log lasts; the heartbeats are written meanwhile regardless.</summary>
    private static readonly TimeSpan PollWindow = TimeSpan.FromSeconds(5);

    /// <summary>How long a new watch waits for its position before it is answered 503 (the log may be activating).</summary>
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan MinimumWait = TimeSpan.FromMilliseconds(100);

    private static readonly OciErrorCode NamespaceInvalid = new("NAMESPACE_INVALID", "invalid namespace", 400);
    private static readonly OciErrorCode SinceInvalid = new("SINCE_INVALID", "invalid event id to resume from", 400);

    public async Task HandleAsync(HttpContext context)
    {
        var (query, error) = Parse(context.Request);
        if (query is null)
        {
            await error!.ExecuteAsync(context);
            return;
        }

        var (visibility, refused) = await WatchVisibility.AdmitAsync(context, query);
        if (refused is not null)
        {
            await refused.ExecuteAsync(context);
            return;
        }

        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        // Ends with the client, or when the host stops (a watch must not hold up a shutdown).
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        var ct = stop.Token;
        var log = grains.GetGrain<INamespaceEventLogGrain>(query.Namespace);
        var watch = new WatchConnection(response, options.Value.Heartbeat, query.Namespace, logger, ct);
        try
        {
            // Positioned before the headers go out: an event pushed once the client has them is sent.
            var position = query.Since ?? await log.GetLastSequence().WaitAsync(StartTimeout, ct);
            await response.StartAsync(ct);
            await watch.WriteAsync(ReadOnlyMemory<byte>.Empty);
            while (true)
            {
                var after = position;
                var page = await watch.AskLogAsync(_ => log.ReadAfter(after, PageSize), TimeSpan.Zero);
                var sse = new ArrayBufferWriter<byte>(1024);
                if (page.Gap)
                {
                    // Events after the client's id are gone (or the id is unknown): it must relist,
                    // then it continues from the oldest event kept.
                    position = page.Events.Count > 0 ? page.Events[0].Sequence - 1 : page.Last;
                    Append(sse, string.Create(CultureInfo.InvariantCulture, $"id: {position}\nevent: gap\ndata: "));
                    using (var json = new Utf8JsonWriter(sse))
                    {
                        JsonSerializer.Serialize(json, new WatchGap(query.Since ?? position, page.First, page.Last), ApiJsonContext.Default.WatchGap);
                    }

                    sse.Write("\n\n"u8);
                }

                var sentThrough = position;
                foreach (var logged in page.Events)
                {
                    position = logged.Sequence;
                    if (query.Matches(logged.Event) && (visibility is null || await visibility.AllowsAsync(logged.Event.Repository)))
                    {
                        Append(sse, string.Create(CultureInfo.InvariantCulture, $"id: {logged.Sequence}\nevent: {logged.Event.Action}\ndata: "));
                        sse.Write(EventEnvelope.SerializeEvent(logged.Event));
                        sse.Write("\n\n"u8);
                        sentThrough = position;
                    }
                }

                if (sentThrough != position)
                {
                    // Events the filter skipped: an id-only block moves the client's resume point past them
                    // (EventSource records the id and dispatches nothing).
                    Append(sse, string.Create(CultureInfo.InvariantCulture, $"id: {position}\n\n"));
                }

                if (sse.WrittenCount > 0)
                {
                    await watch.WriteAsync(sse.WrittenMemory);
                }

                if (page.Events.Count >= PageSize)
                {
                    continue;
                }

                while (true)
                {
                    // Short polls: a log that moved to another silo is found within one poll and its grace.
                    var asked = watch.Elapsed;
                    var waitedFor = position;
                    if (await watch.AskLogAsync(token => log.WaitAfter(waitedFor, PollWindow, token), PollWindow) > position)
                    {
                        break;
                    }

                    if (watch.Elapsed - asked < MinimumWait)
                    {
                        // The log answered at once with nothing new (its silo is stopping): do not spin.
                        await Task.Delay(MinimumWait, ct);
                    }
                }
            }
        }
        catch (Exception) when (ct.IsCancellationRequested)
        {
            // The client left or the host is stopping.
        }
        catch (Exception e)
        {
            // The stream ends; the client reconnects with its last id and misses nothing.
            EventsLog.WatchFailed(logger, e, query.Namespace);
            if (!response.HasStarted)
            {
                await OciErrorCode.Unavailable.WithDetail("the namespace's event log is not available; retry").ExecuteAsync(context);
            }
        }
    }

    /// <summary>Appends SSE field text (ASCII numbers and action names) as UTF-8.</summary>
    private static void Append(ArrayBufferWriter<byte> sse, string text) => sse.Advance(Encoding.UTF8.GetBytes(text, sse.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length))));

    /// <summary>Validates the query; the event id comes from <c>Last-Event-ID</c> (a reconnect) or else <c>since</c>.</summary>
    internal static (WatchQuery? Query, OciError? Error) Parse(HttpRequest request)
    {
        var ns = request.Query["namespace"].ToString();
        if (ns.Length == 0)
        {
            return (null, NamespaceInvalid.WithDetail("the namespace parameter is required (_ for single-component repository names)"));
        }

        if (ns != EmptyNamespace && ns != RegistryStreams.RefusalsKey && ns != RegistryStreams.CollectionsKey && (ns.Contains('/', StringComparison.Ordinal) || !References.IsValidName(ns)))
        {
            return (null, NamespaceInvalid.WithDetail($"'{Truncate(ns)}' is not a namespace: one lowercase name component, _, {RegistryStreams.RefusalsKey} for refused requests or {RegistryStreams.CollectionsKey} for garbage collections"));
        }

        string? repository = null;
        if (request.Query.TryGetValue("repository", out var repositoryValues))
        {
            var name = repositoryValues.ToString();
            // Refusal events name whole repositories: the filter is one.
            repository = ns is EmptyNamespace or RegistryStreams.RefusalsKey or RegistryStreams.CollectionsKey ? name : $"{ns}/{name}";
            if (name.Length == 0 || !References.IsValidName(repository) || (ns == EmptyNamespace && name.Contains('/', StringComparison.Ordinal)))
            {
                return (null, OciErrorCode.NameInvalid.WithDetail($"'{Truncate(name)}' is not a repository name within namespace '{ns}'"));
            }
        }

        long? since = null;
        var sinceText = request.Headers["Last-Event-ID"].ToString() is { Length: > 0 } header ? header : request.Query["since"].ToString();
        if (sinceText.Length > 0)
        {
            if (!long.TryParse(sinceText, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
            {
                return (null, SinceInvalid.WithDetail($"'{Truncate(sinceText)}' is not an event id (a non-negative integer)"));
            }

            since = value;
        }

        return (new WatchQuery(ns, repository, since), null);
    }

    private static string Truncate(string value) => value.Length <= 300 ? value : value[..300] + "…";
}

/// <param name="Namespace">The namespace's stream key (<c>_</c> for the empty namespace).</param>
/// <param name="Repository">The full repository name to filter on, or null for the whole namespace.</param>
/// <param name="Since">The last event id the client saw, or null to start with the next event.</param>
public sealed record WatchQuery(string Namespace, string? Repository, long? Since)
{
    /// <summary>Refusal and collection events only ever on their own (admin-only) watches, whatever a log holds.</summary>
    public bool Matches(RegistryEvent e)
        => e.IsRefusal == (Namespace == RegistryStreams.RefusalsKey)
            && e.IsCollection == (Namespace == RegistryStreams.CollectionsKey)
            && (Repository is null || e.Repository == Repository);
}

/// <summary>The data of a <c>gap</c> event: the id asked for, the oldest id kept and the last one.</summary>
internal sealed record WatchGap(long Requested, long Oldest, long Last);
