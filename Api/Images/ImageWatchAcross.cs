using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Registry.Api.Kube;
using Registry.Grains;

namespace Registry.Api.Images;

/// <summary>
/// Watches that are not of one namespace: <c>GET /apis/image.openshift.io/v1/imagestreams?watch=true</c>
/// (every namespace's streams) and <c>GET …/images?watch=true</c> (an ADDED image per new manifest
/// pushed), both read from this process's <see cref="ImageEventFeed"/> of the registry-wide event
/// stream. A list across namespaces (or of images) gives the feed's position as its
/// resourceVersion; a watch resumes after it, and one the feed no longer holds (more than
/// <see cref="ImageEventFeed.Capacity"/> events behind, or from another replica or run) is 410.
/// Every stream is shown only to a caller that may pull it.
/// </summary>
public sealed class ImageWatchAcross(ImageStreamReader streams, ImageFactsService facts, IGrainFactory grains, ImageEventFeed feed, IImageApiAccess access, IHostApplicationLifetime lifetime, TimeProvider time, IOptions<ImageApiOptions> options)
{
    private const int PageSize = 256;

    /// <summary>At most this many digests are remembered per image watch to send each image once; beyond it the memory starts over.</summary>
    private const int MaxRemembered = 10_000;

    private const string BlobMediaType = "application/octet-stream";

    private static readonly TimeSpan PollWindow = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan MaxTimeout = TimeSpan.FromHours(1);

    private sealed record WatchStart(long Position, bool Initial, TimeSpan Timeout, string? Name, string? Namespace);

    public async Task<IResult?> RunStreamsAsync(HttpContext context, Func<HttpContext, RegistryHosts> hosts)
    {
        var start = Parse(context.Request, namespaces: true);
        if (start.Error is not null)
        {
            return start.Error;
        }

        var watch = start.Start!;
        var table = ImageTables.Wanted(context.Request);
        var printer = new ImageStreamWatch.EventPrinter(table, time);
        return await StreamAsync(context, watch, "ImageStream", async ct =>
        {
            if (!watch.Initial)
            {
                return;
            }

            string? after = null;
            do
            {
                var (page, next) = await streams.ListAsync(null, after, PageSize, r => new ValueTask<bool>(AllowsAsync(context, r)));
                foreach (var stream in page.Where(s => Selected(watch, s.Repository)))
                {
                    await ImageStreamWatch.WriteAsync(context.Response, "ADDED", printer.Print(ImageStreamWatch.Stream(stream.Repository, stream.View, hosts(context), watch.Position)), ct);
                }

                after = next;
            }
            while (after is not null);
        }, async (events, ct) =>
        {
            var changed = events
                .Where(e => e.Event.Target.MediaType != BlobMediaType && Selected(watch, e.Event.Repository))
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
                    await ImageStreamWatch.WriteAsync(context.Response, "MODIFIED", printer.Print(ImageStreamWatch.Stream(repository, view, hosts(context), sequence)), ct);
                }
                else
                {
                    var (ns, name) = ImageNames.StreamOf(repository)!.Value;
                    var gone = new ImageStream("ImageStream", ImageObjects.ApiVersion, new ObjectMeta(name, ns, "", ImageObjects.Version(sequence), ""), new ImageStreamSpec(new LookupPolicy(false), []), new ImageStreamStatus("", null, []));
                    await ImageStreamWatch.WriteAsync(context.Response, "DELETED", printer.Print(gone), ct);
                }
            }
        });
    }

    /// <summary>
    /// An ADDED event per manifest pushed (to any repository) whose image this watch has not sent
    /// yet, and a DELETED event (the image as last known) when a manifest delete leaves no repository
    /// holding the image. Without a resourceVersion it starts at the present: images are many, so
    /// there is no initial ADDED of each (list first, as kubectl does, and watch from the list's resourceVersion).
    /// </summary>
    public async Task<IResult?> RunImagesAsync(HttpContext context, Func<HttpContext, RegistryHosts> hosts)
    {
        var start = Parse(context.Request, namespaces: false);
        if (start.Error is not null)
        {
            return start.Error;
        }

        var watch = start.Start!;
        var table = ImageTables.Wanted(context.Request);
        var sent = new HashSet<string>(StringComparer.Ordinal);
        var deleted = new HashSet<string>(StringComparer.Ordinal);
        var columnsSent = false;

        async Task SendAsync(string type, Image image, long sequence, CancellationToken ct)
        {
            image = image with { Metadata = image.Metadata with { ResourceVersion = ImageObjects.Version(sequence) } };
            JsonElement printed;
            if (table)
            {
                var rows = ImageTables.Images([image], new ListMeta(image.Metadata.ResourceVersion));
                printed = JsonSerializer.SerializeToElement(columnsSent ? rows with { ColumnDefinitions = [] } : rows, ImageApiJsonContext.Default.Table);
                columnsSent = true;
            }
            else
            {
                printed = JsonSerializer.SerializeToElement(image, ImageApiJsonContext.Default.Image);
            }

            await ImageStreamWatch.WriteAsync(context.Response, type, printed, ct);
        }

        static void Remember(HashSet<string> set, string digest)
        {
            if (set.Count >= MaxRemembered)
            {
                set.Clear();
            }

            set.Add(digest);
        }

        return await StreamAsync(context, watch, "Image", _ => Task.CompletedTask, async (events, ct) =>
        {
            foreach (var logged in events)
            {
                var e = logged.Event;
                if (e.Target.MediaType is null or BlobMediaType || e.Target.Digest is not { } digest || (watch.Name is { } only && only != digest))
                {
                    continue;
                }

                if (e.Action == RegistryEvent.Delete && e.Target.Tag is null)
                {
                    // Rechecked here, not read: the worker that records holdings may not have seen this delete yet.
                    var holding = await grains.GetGrain<IImageGrain>(digest).Recheck(e.Repository, pushed: false);
                    if (!holding.Deleted || deleted.Contains(digest))
                    {
                        continue;
                    }

                    var last = await grains.GetGrain<IImageGrain>(digest).Get()
                        ?? new ImageFacts(digest, e.Target.MediaType, e.Target.Size, null, [], [], null, 0, time.GetUtcNow());
                    sent.Remove(digest);
                    Remember(deleted, digest);
                    await SendAsync("DELETED", ImageObjects.Image(last, holding.LastRepository ?? e.Repository, hosts(context)), logged.Sequence, ct);
                    continue;
                }

                if (e.Action != RegistryEvent.Push || sent.Contains(digest))
                {
                    continue;
                }

                // Recorded here too (also when deleted already), so this watch's DELETED never depends on the worker having recorded the push first.
                await grains.GetGrain<IImageGrain>(digest).Recheck(e.Repository, pushed: true);
                if (await streams.ManifestAsync(e.Repository, digest) is not { } manifest || await facts.GetAsync(manifest, ct) is not { } found)
                {
                    continue;
                }

                deleted.Remove(digest);
                Remember(sent, digest);
                await SendAsync("ADDED", ImageObjects.Image(found, e.Repository, hosts(context)), logged.Sequence, ct);
            }
        });
    }

    /// <summary>Starts the response and sends the initial events, then each page of the feed, with bookmarks when asked; returns null once the watch ends.</summary>
    private async Task<IResult?> StreamAsync(HttpContext context, WatchStart watch, string kind, Func<CancellationToken, Task> initial, Func<IReadOnlyList<LoggedEvent>, CancellationToken, Task> changes)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json";
        response.Headers.CacheControl = "no-cache";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        stop.CancelAfter(watch.Timeout);
        var ct = stop.Token;
        var bookmarks = new WatchBookmarks(context.Request, options.Value.WatchBookmarkInterval, time);
        var position = watch.Position;
        try
        {
            await response.StartAsync(ct);
            await response.Body.FlushAsync(ct);
            await initial(ct);
            while (!ct.IsCancellationRequested)
            {
                if (feed.ReadAfter(position, PageSize) is not { } events)
                {
                    // The watcher fell more than the feed's capacity behind: it must list again.
                    await ImageStreamWatch.WriteAsync(response, "ERROR", ImageStreamWatch.KubeStatusDocument(410, "Expired", $"too old resource version: {ImageObjects.Version(position)}"), ct);
                    return null;
                }

                if (events.Count > 0)
                {
                    await changes(events, ct);
                    position = events[^1].Sequence;
                }

                if (events.Count < PageSize)
                {
                    await feed.WaitAfterAsync(position, bookmarks.Wait(PollWindow), ct);
                    if (bookmarks.Due(kind, ImageObjects.Version(position)) is { } bookmark)
                    {
                        await ImageStreamWatch.WriteAsync(response, "BOOKMARK", bookmark, ct);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client left, its timeout passed, or the host stops: the watch ends, as Kubernetes watches do.
        }

        return null;
    }

    private async Task<bool> AllowsAsync(HttpContext context, string repository)
        => await access.CheckAsync(context, ImageAccessNeed.Of("imagestreams", "watch", repository)) is null;

    private static bool Selected(WatchStart watch, string repository)
        => ImageNames.StreamOf(repository) is { } s && (watch.Name is null || s.Name == watch.Name) && (watch.Namespace is null || s.Namespace == watch.Namespace);

    private sealed record Parsed(WatchStart? Start, KubeStatus? Error);

    /// <summary>resourceVersion (absent or 0: from now, with the initial ADDED events), timeoutSeconds and fieldSelector (metadata.name, and metadata.namespace for streams).</summary>
    private Parsed Parse(HttpRequest request, bool namespaces)
    {
        var query = request.Query;
        string? name = null;
        string? ns = null;
        if (query["fieldSelector"].ToString() is { Length: > 0 } selector)
        {
            foreach (var term in selector.Split(','))
            {
                if (term.StartsWith("metadata.name=", StringComparison.Ordinal))
                {
                    name = term["metadata.name=".Length..];
                }
                else if (namespaces && term.StartsWith("metadata.namespace=", StringComparison.Ordinal))
                {
                    ns = term["metadata.namespace=".Length..];
                }
                else
                {
                    return new(null, KubeStatus.BadRequest($"fieldSelector \"{selector}\" is not supported: only metadata.name=<name>{(namespaces ? " and metadata.namespace=<namespace>" : "")}"));
                }
            }
        }

        var timeout = MaxTimeout;
        if (query["timeoutSeconds"].ToString() is { Length: > 0 } seconds)
        {
            if (!int.TryParse(seconds, NumberStyles.None, CultureInfo.InvariantCulture, out var s))
            {
                return new(null, KubeStatus.BadRequest($"timeoutSeconds \"{seconds}\" is not valid: use a non-negative integer"));
            }

            timeout = TimeSpan.FromSeconds(Math.Min(s, MaxTimeout.TotalSeconds));
        }

        var version = query["resourceVersion"].ToString();
        if (version.Length == 0 || version == "0")
        {
            return new(new WatchStart(feed.Position, Initial: true, timeout, name, ns), null);
        }

        if (!long.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) || parsed < 1)
        {
            return new(null, KubeStatus.BadRequest($"resourceVersion \"{version}\" is not valid: pass the metadata.resourceVersion of a list"));
        }

        var position = ImageObjects.Position(parsed);
        return feed.Holds(position)
            ? new(new WatchStart(position, Initial: false, timeout, name, ns), null)
            : new(null, KubeStatus.Gone($"too old resource version: {version} is not among the last {ImageEventFeed.Capacity} events this replica holds; list again and watch from the list's resourceVersion"));
    }
}

public static class ImageWatchAcrossExtensions
{
    /// <summary>The feed of registry events (an in-process subscriber) and the watches across namespaces and of images read from it.</summary>
    public static IServiceCollection AddImageApiWatchAcross(this IServiceCollection services)
    {
        services.AddSingleton<ImageEventFeed>();
        services.AddSingleton<Events.IRegistryEventSubscriber>(sp => sp.GetRequiredService<ImageEventFeed>());
        services.AddSingleton<ImageWatchAcross>();
        return services;
    }
}
