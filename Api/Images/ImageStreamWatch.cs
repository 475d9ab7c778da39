using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Registry.Api.Kube;
using Registry.Grains;

namespace Registry.Api.Images;

/// <summary>
/// <c>GET …/namespaces/{ns}/imagestreams?watch=true[&amp;resourceVersion=N][&amp;fieldSelector=metadata.name=X]</c>:
/// newline-delimited <c>{"type","object"}</c> events read from the namespace's event log, so a
/// push through any replica reaches a watcher on any other. The resourceVersion of a namespace's
/// list is the log position; a watch resumes after it. Without one (or with 0) the watch starts
/// with an ADDED event per stream. Each logged manifest or tag change becomes a MODIFIED event
/// carrying the whole stream, whose resourceVersion is the event's log position (the point to
/// resume from); DELETED once the repository holds nothing. A position the log no longer holds
/// is 410 Expired.
/// </summary>
public sealed class ImageStreamWatch(ImageStreamReader streams, IGrainFactory grains, IImageApiAccess access, IHostApplicationLifetime lifetime, TimeProvider time, Microsoft.Extensions.Options.IOptions<ImageApiOptions> options)
{
    private const int PageSize = 256;

    private static readonly TimeSpan PollWindow = TimeSpan.FromSeconds(5);

    /// <summary>The longest watch a client may ask for with <c>timeoutSeconds</c>; without it, the watch lasts until the client leaves.</summary>
    private static readonly TimeSpan MaxTimeout = TimeSpan.FromHours(1);

    private const string BlobMediaType = "application/octet-stream";

    public async Task<IResult?> RunAsync(HttpContext context, string ns, Func<HttpContext, RegistryHosts> hosts)
    {
        var query = context.Request.Query;
        string? name = null;
        if (query["fieldSelector"].ToString() is { Length: > 0 } selector)
        {
            if (!selector.StartsWith("metadata.name=", StringComparison.Ordinal))
            {
                return KubeStatus.BadRequest($"fieldSelector \"{selector}\" is not supported: only metadata.name=<stream>");
            }

            name = selector["metadata.name=".Length..];
        }

        var version = query["resourceVersion"].ToString();
        long? from = null;
        if (version.Length > 0 && version != "0")
        {
            if (!long.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
            {
                return KubeStatus.BadRequest($"resourceVersion \"{version}\" is not valid: pass the metadata.resourceVersion of a list of this namespace");
            }

            from = ImageObjects.Position(parsed);
        }

        var timeout = MaxTimeout;
        if (query["timeoutSeconds"].ToString() is { Length: > 0 } seconds)
        {
            if (!int.TryParse(seconds, NumberStyles.None, CultureInfo.InvariantCulture, out var s))
            {
                return KubeStatus.BadRequest($"timeoutSeconds \"{seconds}\" is not valid: use a non-negative integer");
            }

            timeout = TimeSpan.FromSeconds(Math.Min(s, MaxTimeout.TotalSeconds));
        }

        var log = grains.GetGrain<INamespaceEventLogGrain>(ns);
        var position = from ?? await log.GetLastSequence();
        var first = await log.ReadAfter(position, PageSize);
        if (first.Gap)
        {
            return KubeStatus.Gone($"too old resource version: {position} is not in the namespace's event log (it holds {first.First} to {first.Last}); list again and watch from the list's resourceVersion");
        }

        var printer = new EventPrinter(ImageTables.Wanted(context.Request), time);
        var bookmarks = new WatchBookmarks(context.Request, options.Value.WatchBookmarkInterval, time);
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json";
        response.Headers.CacheControl = "no-cache";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        stop.CancelAfter(timeout);
        var ct = stop.Token;
        try
        {
            // Headers out now: a client waits for them before it acts (kubectl prints nothing until then).
            // Inside the try: timeoutSeconds=0 ends the watch here, as an empty one, not as an error.
            await response.StartAsync(ct);
            await response.Body.FlushAsync(ct);

            if (from is null)
            {
                await SendInitialAsync(context, printer, ns, name, position, hosts(context), ct);
            }

            var page = first;
            while (!ct.IsCancellationRequested)
            {
                if (page.Gap)
                {
                    await WriteAsync(response, "ERROR", KubeStatusDocument(410, "Expired", $"too old resource version: {position}"), ct);
                    return null;
                }

                if (page.Events.Count > 0)
                {
                    await SendChangesAsync(context, printer, ns, name, page.Events, hosts(context), ct);
                    position = page.Events[^1].Sequence;
                }

                if (page.Events.Count < PageSize)
                {
                    while (await log.WaitAfter(position, bookmarks.Wait(PollWindow), ct) <= position)
                    {
                        ct.ThrowIfCancellationRequested();
                        if (bookmarks.Due("ImageStream", ImageObjects.Version(position)) is { } bookmark)
                        {
                            await WriteAsync(response, "BOOKMARK", bookmark, ct);
                        }
                    }
                }

                page = await log.ReadAfter(position, PageSize);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client left, its timeout passed, or the host stops: the watch ends, as Kubernetes watches do.
        }

        return null;
    }

    private async Task SendInitialAsync(HttpContext context, EventPrinter printer, string ns, string? name, long position, RegistryHosts hosts, CancellationToken ct)
    {
        string? after = null;
        do
        {
            var (page, next) = await streams.ListAsync(ns, after, PageSize, r => new ValueTask<bool>(AllowsAsync(context, r)));
            foreach (var stream in page.Where(s => name is null || ImageNames.StreamOf(s.Repository)!.Value.Name == name))
            {
                await WriteAsync(context.Response, "ADDED", printer.Print(Stream(stream.Repository, stream.View, hosts, position)), ct);
            }

            after = next;
        }
        while (after is not null);
    }

    /// <summary>One event per stream changed in the page (its state now), in the order of their last change.</summary>
    private async Task SendChangesAsync(HttpContext context, EventPrinter printer, string ns, string? name, IReadOnlyList<LoggedEvent> events, RegistryHosts hosts, CancellationToken ct)
    {
        var changed = events
            .Where(e => e.Event.Target.MediaType != BlobMediaType && ImageNames.StreamOf(e.Event.Repository) is { } s && s.Namespace == ns && (name is null || s.Name == name))
            .GroupBy(e => e.Event.Repository, StringComparer.Ordinal)
            .Select(g => (Repository: g.Key, Sequence: g.Max(e => e.Sequence)))
            .OrderBy(c => c.Sequence);
        foreach (var (repository, sequence) in changed)
        {
            if (!await AllowsAsync(context, repository))
            {
                continue;
            }

            if (await streams.GetAsync(repository) is { } view)
            {
                await WriteAsync(context.Response, "MODIFIED", printer.Print(Stream(repository, view, hosts, sequence)), ct);
            }
            else
            {
                var (streamNs, streamName) = ImageNames.StreamOf(repository)!.Value;
                var gone = new ImageStream("ImageStream", ImageObjects.ApiVersion, new ObjectMeta(streamName, streamNs, "", ImageObjects.Version(sequence), ""), new ImageStreamSpec(new LookupPolicy(false), []), new ImageStreamStatus("", null, []));
                await WriteAsync(context.Response, "DELETED", printer.Print(gone), ct);
            }
        }
    }

    private async Task<bool> AllowsAsync(HttpContext context, string repository)
        => await access.CheckAsync(context, ImageAccessNeed.Of("imagestreams", "watch", repository)) is null;

    internal static ImageStream Stream(string repository, ImageStreamView view, RegistryHosts hosts, long sequence)
    {
        var stream = ImageObjects.Stream(repository, view, hosts);
        return stream with { Metadata = stream.Metadata with { ResourceVersion = ImageObjects.Version(sequence) } };
    }

    /// <summary>
    /// An event's object: the stream, or (when kubectl asked for tables) a Table of its one row, the
    /// column definitions in the first event only, as Kubernetes sends them.
    /// </summary>
    internal sealed class EventPrinter(bool table, TimeProvider time)
    {
        private bool _columnsSent;

        public JsonElement Print(ImageStream stream)
        {
            if (!table)
            {
                return JsonSerializer.SerializeToElement(stream, ImageApiJsonContext.Default.ImageStream);
            }

            var printed = ImageTables.Streams([stream], new ListMeta(stream.Metadata.ResourceVersion), time.GetUtcNow());
            printed = _columnsSent ? printed with { ColumnDefinitions = [] } : printed;
            _columnsSent = true;
            return JsonSerializer.SerializeToElement(printed, ImageApiJsonContext.Default.Table);
        }
    }

    internal static JsonElement KubeStatusDocument(int code, string reason, string message)
        => JsonSerializer.SerializeToElement(new StatusDocument("Status", "v1", new StatusMeta(), "Failure", message, reason, code), Json.ApiJsonContext.Default.StatusDocument);

    internal static async Task WriteAsync(HttpResponse response, string type, JsonElement value, CancellationToken ct)
    {
        var line = JsonSerializer.SerializeToUtf8Bytes(new WatchEvent(type, value), ImageApiJsonContext.Default.WatchEvent);
        await response.Body.WriteAsync(line, ct);
        await response.Body.WriteAsync("\n"u8.ToArray(), ct);
        await response.Body.FlushAsync(ct);
    }
}

public sealed record WatchEvent(string Type, JsonElement Object);
