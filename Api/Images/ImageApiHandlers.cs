using Microsoft.Extensions.Options;
using Registry.Api.Kube;
using Registry.Grains;

namespace Registry.Api.Images;

/// <summary>The reads of the image API, once the endpoint has parsed the request and let it in.</summary>
public sealed class ImageApiHandlers(ImageStreamReader streams, ImageFactsService facts, IGrainFactory grains, ImageEventFeed feed, IOptions<ImageApiOptions> options, TimeProvider time, ImageStreamDocumentCache documents)
{
    /// <summary>At most this many images (one grain call each) are looked up at once for a listing.</summary>
    private const int Parallelism = 32;

    public async Task<IResult> GetStreamAsync(HttpContext context, string repository, bool table)
    {
        if (await streams.GetAsync(repository) is not { } view)
        {
            return StreamNotFound(repository);
        }

        var hosts = Hosts(context);
        if (table)
        {
            var stream = ImageObjects.Stream(repository, view, hosts);
            return Json(ImageTables.Streams([stream], new ListMeta(stream.Metadata.ResourceVersion), time.GetUtcNow()), ImageApiJsonContext.Default.Table);
        }

        // The JSON of a large stream is kept for its version: it is the same until the stream changes.
        var document = documents.GetOrWrite(repository, view, hosts, () => System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(ImageObjects.Stream(repository, view, hosts), ImageApiJsonContext.Default.ImageStream));
        return Results.Bytes(document, "application/json");
    }

    public async Task<IResult> GetTagAsync(HttpContext context, string repository, string tag, bool table)
    {
        var (ns, name) = ImageNames.StreamOf(repository)!.Value;
        var view = await streams.GetAsync(repository);
        var found = view?.Tags.FirstOrDefault(t => t.Tag == tag && t.History.Count > 0);
        if (view is null || found is null || await TagAsync(context, repository, view, found) is not { } istag)
        {
            return KubeStatus.NotFound($"imagestreamtags.{ImageObjects.Group} \"{name}:{tag}\" not found");
        }

        return table
            ? Json(ImageTables.Tags([istag], new ListMeta(istag.Metadata.ResourceVersion), time.GetUtcNow()), ImageApiJsonContext.Default.Table)
            : Json(istag, ImageApiJsonContext.Default.ImageStreamTag);
    }

    /// <summary><c>stream@id</c>: the image among the stream's history whose digest is, or starts with, <paramref name="id"/>; 409 when several do.</summary>
    public async Task<IResult> GetStreamImageAsync(HttpContext context, string repository, string id, bool table)
    {
        var (ns, name) = ImageNames.StreamOf(repository)!.Value;
        var prefix = id.Contains(':', StringComparison.Ordinal) ? id : $"sha256:{id}";
        var view = await streams.GetAsync(repository);
        var matches = view is null ? [] : view.Tags.SelectMany(t => t.History).Select(h => h.Digest).Where(d => d.StartsWith(prefix, StringComparison.Ordinal)).Distinct(StringComparer.Ordinal).ToArray();
        if (matches.Length > 1)
        {
            return KubeStatus.Conflict($"\"{id}\" names {matches.Length} images of image stream {ns}/{name}: give more of the digest");
        }

        var image = matches.Length == 1 ? await ImageAsync(context, repository, matches[0]) : null;
        if (image is null)
        {
            return KubeStatus.NotFound($"imagestreamimages.{ImageObjects.Group} \"{name}@{id}\" not found");
        }

        var isimage = ImageObjects.StreamImage(repository, view!, image);
        return table
            ? Json(ImageTables.StreamImages([isimage], new ListMeta(isimage.Metadata.ResourceVersion)), ImageApiJsonContext.Default.Table)
            : Json(isimage, ImageApiJsonContext.Default.ImageStreamImage);
    }

    public async Task<IResult> GetImageAsync(HttpContext context, string digest, bool table)
    {
        if (!Oci.References.IsValidDigest(digest))
        {
            return KubeStatus.BadRequest($"\"{digest}\" is not a valid image name: an image is named by its manifest digest (sha256:<64 hex digits>)");
        }

        // An image no repository holds any more is gone, though its facts (and bytes, until collected) remain.
        var found = (await grains.GetGrain<IImageGrain>(digest).GetHolding()).Deleted ? null : await facts.GetAsync(digest, context.RequestAborted);
        if (found is null)
        {
            return KubeStatus.NotFound($"images.{ImageObjects.Group} \"{digest}\" not found");
        }

        var image = ImageObjects.Image(found, null, Hosts(context));
        return table
            ? Json(ImageTables.Images([image], new ListMeta(image.Metadata.ResourceVersion)), ImageApiJsonContext.Default.Table)
            : Json(image, ImageApiJsonContext.Default.Image);
    }

    public async Task<IResult> ListStreamsAsync(HttpContext context, string? ns, string[] position, int limit, Func<string, ValueTask<bool>> include, bool table)
    {
        var across = feed.Position;
        var (listed, next) = await streams.ListAsync(ns, After(position), limit, include);
        var hosts = Hosts(context);
        var items = listed.Select(s => ImageObjects.Stream(s.Repository, s.View, hosts)).ToArray();
        var meta = await ListMetaAsync(ns, across, next);
        return table
            ? Json(ImageTables.Streams(items, meta, time.GetUtcNow()), ImageApiJsonContext.Default.Table)
            : Json(new ImageStreamList("ImageStreamList", ImageObjects.ApiVersion, meta, items), ImageApiJsonContext.Default.ImageStreamList);
    }

    /// <summary>The tags of the streams of a page of streams: a page ends after a whole stream, so it may hold more than <paramref name="limit"/> tags.</summary>
    public async Task<IResult> ListTagsAsync(HttpContext context, string? ns, string[] position, int limit, Func<string, ValueTask<bool>> include, bool table)
    {
        var across = feed.Position;
        var listed = new List<ListedStream>();
        var tagCount = 0;
        var after = After(position);
        string? next;
        do
        {
            (var page, next) = await streams.ListAsync(ns, after, Math.Max(1, Math.Min(limit - tagCount, 64)), include);
            foreach (var stream in page)
            {
                listed.Add(stream);
                tagCount += stream.View.Tags.Count;
                after = stream.Repository;
                if (tagCount >= limit)
                {
                    next = stream == page[^1] ? next : stream.Repository;
                    break;
                }
            }
        }
        while (tagCount < limit && next is not null);

        var tags = await BoundedAsync(listed.SelectMany(s => s.View.Tags.Where(t => t.History.Count > 0).Select(t => (Stream: s, Tag: t))), p => TagAsync(context, p.Stream.Repository, p.Stream.View, p.Tag));
        var items = tags.OfType<ImageStreamTag>().ToArray();
        var meta = await ListMetaAsync(ns, across, next);
        return table
            ? Json(ImageTables.Tags(items, meta, time.GetUtcNow()), ImageApiJsonContext.Default.Table)
            : Json(new ImageStreamTagList("ImageStreamTagList", ImageObjects.ApiVersion, meta, items), ImageApiJsonContext.Default.ImageStreamTagList);
    }

    /// <summary>
    /// The images of every repository, repository by repository and by digest within one; an image
    /// in several repositories is listed once per page (under the first), and again on a later
    /// page only if it is in a repository that page reaches.
    /// </summary>
    public async Task<IResult> ListImagesAsync(HttpContext context, string[] position, int limit, bool table)
    {
        var across = feed.Position;
        var found = new List<(string Repository, ManifestDescriptor Manifest)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        string[]? next = null;

        // Reads a repository's manifests after a digest until the page is full; then the page continues there.
        async Task<bool> FillAsync(string repository, string? after)
        {
            ManifestPage page;
            do
            {
                page = await streams.ManifestsAsync(repository, after, limit - found.Count);
                found.AddRange(page.Manifests.Where(m => seen.Add(m.Digest)).Select(m => (repository, m)));
                after = page.Manifests.Count > 0 ? page.Manifests[^1].Digest : after;
            }
            while (page.More && found.Count < limit);

            if (found.Count < limit)
            {
                return false;
            }

            next = [repository, after ?? ""];
            return true;
        }

        var last = position.Length == 2 ? position[0] : null;
        if (limit > 0 && (last is null || !await FillAsync(last, position[1])))
        {
            while (true)
            {
                var names = await streams.RepositoriesAsync(last, 64);
                foreach (var name in names.Names)
                {
                    if (await FillAsync(name, null))
                    {
                        break;
                    }
                }

                if (next is not null || !names.More || names.Names.Count == 0)
                {
                    break;
                }

                last = names.Names[^1];
            }
        }

        var hosts = Hosts(context);
        var images = await BoundedAsync(found, async f => await facts.GetAsync(f.Manifest, context.RequestAborted) is { } kept ? ImageObjects.Image(kept, f.Repository, hosts) : null);
        var items = images.OfType<Image>().ToArray();
        var meta = new ListMeta(ImageObjects.Version(across), next is null ? null : ImageStreamReader.EncodeContinue(next));
        return table
            ? Json(ImageTables.Images(items, meta), ImageApiJsonContext.Default.Table)
            : Json(new ImageList("ImageList", ImageObjects.ApiVersion, meta, items), ImageApiJsonContext.Default.ImageList);
    }

    private async Task<ImageStreamTag?> TagAsync(HttpContext context, string repository, ImageStreamView view, ImageStreamTagView tag)
        => await ImageAsync(context, repository, tag.History[0].Digest) is { } image ? ImageObjects.Tag(repository, view, tag, image) : null;

    private async Task<Image?> ImageAsync(HttpContext context, string repository, string digest)
        => await streams.ManifestAsync(repository, digest) is { } manifest && await facts.GetAsync(manifest, context.RequestAborted) is { } kept
            ? ImageObjects.Image(kept, repository, Hosts(context))
            : null;

    /// <summary>
    /// A list's metadata: its resourceVersion is what a watch resumes from: the namespace's event
    /// log position for one namespace, else <paramref name="across"/>, the position of this
    /// process's event feed taken before the list was read; continue when more follow.
    /// </summary>
    private async Task<ListMeta> ListMetaAsync(string? ns, long across, string? next)
    {
        var version = ns is not null
            ? await grains.GetGrain<INamespaceEventLogGrain>(ns).GetLastSequence()
            : across;
        return new ListMeta(ImageObjects.Version(version), next is null ? null : ImageStreamReader.EncodeContinue(next));
    }

    private static string? After(string[] position) => position.Length == 1 ? position[0] : null;

    /// <summary>The host names of references: configured, or the request's Host.</summary>
    public RegistryHosts Hosts(HttpContext context)
    {
        var o = options.Value;
        var host = o.InternalRegistryHostname.Length > 0 ? o.InternalRegistryHostname : context.Request.Host.Value ?? "localhost";
        return new RegistryHosts(host, o.PublicRegistryHostname.Length > 0 ? o.PublicRegistryHostname : null);
    }

    private static KubeStatus StreamNotFound(string repository)
    {
        var (ns, name) = ImageNames.StreamOf(repository)!.Value;
        return KubeStatus.NotFound($"imagestreams.{ImageObjects.Group} \"{name}\" not found");
    }

    private static async Task<T[]> BoundedAsync<TIn, T>(IEnumerable<TIn> inputs, Func<TIn, Task<T>> map)
    {
        using var gate = new SemaphoreSlim(Parallelism);
        return await Task.WhenAll(inputs.Select(async input =>
        {
            await gate.WaitAsync();
            try
            {
                return await map(input);
            }
            finally
            {
                gate.Release();
            }
        }));
    }

    private static IResult Json<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) => ImageApiDiscovery.Json(value, type);
}
