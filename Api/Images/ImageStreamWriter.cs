using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Registry.Api.Access;
using Registry.Api.Events;
using Registry.Api.Extensions;
using Registry.Api.Kube;
using Registry.Api.Oci;
using Registry.Api.Services;
using Registry.Grains;

namespace Registry.Api.Images;

/// <summary>
/// The changes of the image API: ImageStreamTag create (POST), update (PUT) and delete, and
/// ImageStream delete. A tag pointed at an image of its own repository is moved; at one of
/// another repository (or namespace) the image is copied first (its blobs mounted, its manifest
/// pushed by digest), then tagged. Every refusal is a Kubernetes Status and changes nothing.
/// </summary>
public sealed class ImageStreamWriter(
    IGrainFactory grains,
    ImageStreamReader streams,
    ImageFactsService facts,
    ImageApiHandlers handlers,
    ManifestService manifests,
    BlobService blobs,
    IImageApiAccess access,
    ImageTagGuard tagGuard,
    IOptions<ImageApiOptions> options,
    IServiceProvider services,
    ILogger<ImageStreamWriter> logger)
{
    /// <summary>How deep an index of indexes is copied across repositories.</summary>
    private const int MaxCopyDepth = 4;

    private readonly Lazy<EventSourceReplica> _source = new(() => new EventSourceReplica(OciEndpointExtensions.ListenAuthority(services), OciEndpointExtensions.InstanceId));

    /// <summary>Answers a request other than GET to a resource path of the group; 405 (with <c>Allow</c>) for what is not served.</summary>
    public async Task<IResult> HandleAsync(HttpContext context, string resource, string? ns, string? name)
    {
        var method = context.Request.Method;
        var allowed = (resource, ns, name) switch
        {
            ("imagestreamtags", not null, null) => "GET, POST",
            ("imagestreamtags", not null, not null) => "GET, PUT, PATCH, DELETE",
            ("imagestreams", not null, null) => "GET, POST",
            ("imagestreams", not null, not null) => "GET, PUT, PATCH, DELETE",
            _ => "GET",
        };
        var served = allowed.Split(", ").Contains(method, StringComparer.Ordinal);
        if (ns is null || !ImageNames.IsNamespace(ns))
        {
            return served ? InvalidNamespace(ns) : NotServed(method, resource, name, allowed);
        }

        // Authenticates first, so an anonymous caller learns nothing from the checks of its body.
        var verb = method is "DELETE" ? "delete" : "create";
        if (await access.CheckAsync(context, ImageAccessNeed.Of(resource, verb, null, ns)) is { } refused)
        {
            return refused;
        }

        // Unknown fields are refused (Strict) or warned about before anything else, as the cluster's
        // API server does, also for a write this registry does not serve (so kubectl's validation works).
        if (method is "POST" or "PUT" or "PATCH" && await FieldValidation.CheckRequestAsync(context, resource, options.Value.MaxRequestBytes) is { } unknownFields)
        {
            return unknownFields;
        }

        if (!served)
        {
            return NotServed(method, resource, name, allowed);
        }

        if (DryRunRefusal(context) is { } dryRun)
        {
            return dryRun;
        }

        return (resource, method) switch
        {
            ("imagestreamtags", "POST" or "PUT") => await WriteTagAsync(context, ns!, name),
            ("imagestreamtags", "PATCH") => await PatchTagAsync(context, ns!, name!),
            ("imagestreamtags", _) => await DeleteTagAsync(context, ns!, name!),
            ("imagestreams", "POST" or "PUT") => await WriteStreamAsync(context, ns!, name),
            ("imagestreams", "PATCH") => await PatchStreamAsync(context, ns!, name!),
            _ => await DeleteStreamAsync(context, ns!, name!),
        };
    }

    private static KubeStatus NotServed(string method, string resource, string? name, string allowed)
        => KubeStatus.MethodNotAllowed($"{method} is not supported on {resource}{(name is null ? "" : $" \"{name}\"")} (only {allowed})")
            .WithHeader("Allow", allowed);

    /// <summary>
    /// A server dry run is not served: refused, as the API server refuses a dry run of a resource
    /// without it, rather than written (kubectl --dry-run=server would otherwise change what it asked only to see).
    /// </summary>
    internal static KubeStatus? DryRunRefusal(HttpContext context)
        => context.Request.Query.ContainsKey("dryRun")
            ? KubeStatus.BadRequest("dryRun is not served by the image API: nothing was changed; send the request without it to make the change")
            : null;

    private static KubeStatus InvalidNamespace(string? ns)
        => KubeStatus.BadRequest($"namespace \"{ns}\" is not valid: a namespace of the image API is a DNS label (at most 63 of a-z, 0-9 and '-') and the first component of a repository name");

    /// <summary>Create (<paramref name="urlName"/> null) or update of <c>stream:tag</c>: push on the target, overwrite to move a tag that points elsewhere, pull on another source.</summary>
    private async Task<IResult> WriteTagAsync(HttpContext context, string ns, string? urlName)
    {
        var creating = urlName is null;
        if (urlName is not null && (ImageNames.SplitTag(urlName) is not { } named || ImageNames.RepositoryOf(ns, named.Stream) is null))
        {
            return KubeStatus.BadRequest($"\"{urlName}\" is not a valid image stream tag name: use <stream>:<tag>, where the stream with '~' for '/' and the namespace before it make a repository name");
        }

        var (request, invalid) = await ImageStreamTagRequest.ReadAsync(context.Request, ns, urlName, options.Value.MaxRequestBytes, context.RequestAborted);
        return request is null ? invalid! : await MoveTagAsync(context, ns, request, creating);
    }

    /// <summary>A PATCH of <c>stream:tag</c>: the patch applied to the object as a GET returns it, then the result written as an update.</summary>
    private async Task<IResult> PatchTagAsync(HttpContext context, string ns, string urlName)
    {
        if (ImageNames.SplitTag(urlName) is not { } named || ImageNames.RepositoryOf(ns, named.Stream) is not { } repository)
        {
            return KubeStatus.BadRequest($"\"{urlName}\" is not a valid image stream tag name: use <stream>:<tag>, where the stream with '~' for '/' and the namespace before it make a repository name");
        }

        var (patch, unreadable) = await ImagePatch.ReadAsync(context.Request, options.Value.MaxRequestBytes, context.RequestAborted);
        if (patch is null)
        {
            return unreadable!;
        }

        if (await access.CheckAsync(context, ImageAccessNeed.Of("imagestreamtags", "get", repository, ns)) is { } noRead)
        {
            return noRead;
        }

        if (await TagObjectAsync(context, repository, named.Tag) is not { } current)
        {
            return KubeStatus.NotFound($"imagestreamtags.{ImageObjects.Group} \"{urlName}\" not found");
        }

        var (patched, invalid) = ImagePatch.Apply(JsonSerializer.SerializeToUtf8Bytes(current, ImageApiJsonContext.Default.ImageStreamTag), patch, options.Value.MaxRequestBytes, ImagePatch.NoKeys);
        if (patched is null)
        {
            return invalid!;
        }

        var (request, refused) = ImageStreamTagRequest.Parse(patched, ns, urlName);
        return request is null ? refused! : await MoveTagAsync(context, ns, request, creating: false);
    }

    private async Task<IResult> MoveTagAsync(HttpContext context, string ns, ImageStreamTagRequest request, bool creating)
    {
        var repository = request.Repository;
        var name = $"{request.Stream}:{request.Tag}";
        if (await access.CheckAsync(context, ImageAccessNeed.Of("imagestreamtags", "create", repository, ns)) is { } refused)
        {
            return refused;
        }

        var from = request.From;
        if (from.Repository != repository
            && await access.CheckAsync(context, ImageAccessNeed.Of(from.IsImage ? "imagestreamimages" : "imagestreamtags", "get", from.Repository, from.Namespace)) is { } noPull)
        {
            return noPull;
        }

        var (digest, unresolved) = await ResolveAsync(from);
        if (digest is null)
        {
            return unresolved!;
        }

        // What the target holds now: refusals that need no write are made before anything is copied.
        var view = await streams.GetAsync(repository);
        var current = view?.Tags.FirstOrDefault(t => t.Tag == request.Tag && t.History.Count > 0)?.History[0].Digest;
        if (creating && (current is not null || view?.Spec?.Tags.Any(t => t.Name == request.Tag) == true))
        {
            return KubeStatus.AlreadyExists($"imagestreamtags.{ImageObjects.Group} \"{name}\" already exists");
        }

        if (request.ExpectedSequence is { } expected && view?.Sequence != expected)
        {
            return Stale(name);
        }

        var mayMove = false;
        if (current is not null && current != digest)
        {
            if (await access.CheckAsync(context, ImageAccessNeed.Of("imagestreamtags", "update", repository, ns)) is { } noOverwrite)
            {
                return noOverwrite;
            }

            mayMove = true;
        }

        if (await tagGuard.MoveRefusalAsync(repository, request.Tag, current, digest, name) is { } immutable)
        {
            return immutable;
        }

        StampOrigin(context);
        var (copied, copyError) = from.Repository == repository ? (false, null) : await CopyAsync(from.Repository, repository, digest, 0, context.RequestAborted);
        if (copyError is not null)
        {
            return copyError;
        }

        // A copy changed the repository's sequence itself: the version was checked against what preceded it.
        // The tag's spec is stored with the move: a tag from another tag of the stream tracks it from now on (oc tag --alias).
        OciUrls.SetEventTarget(OciUrls.Manifest(repository, digest));
        var spec = request.Spec with { From = new SpecTagFrom(from.IsImage ? SpecTag.ImageStreamImage : SpecTag.ImageStreamTag, from.Name, from.Namespace) };
        var change = new SpecChange(SpecChangeMode.SetTag, [spec], null, null, new Dictionary<string, string>(StringComparer.Ordinal) { [request.Tag] = digest }, mayMove, copied ? null : request.ExpectedSequence, await tagGuard.RulesAsync(repository), creating);
        var result = await grains.GetGrain<IRepositoryGrain>(repository).ChangeImageStreamSpec(change);
        switch (result.Outcome)
        {
            case SpecChangeOutcome.Immutable:
                return ImageTagGuard.Refused(repository, result.Tag ?? request.Tag, result.Rule, name, "imagestreamtags");
            case SpecChangeOutcome.Stale:
            case SpecChangeOutcome.NeedsOverwrite:
                return Stale(name);
            case SpecChangeOutcome.AlreadyExists:
                return KubeStatus.AlreadyExists($"imagestreamtags.{ImageObjects.Group} \"{name}\" already exists");
            case SpecChangeOutcome.ManifestUnknown:
                return KubeStatus.NotFound($"{(from.IsImage ? "imagestreamimages" : "imagestreamtags")}.{ImageObjects.Group} \"{from.Name}\" not found");
            case SpecChangeOutcome.Cycle:
                return CycleRefused(name, "ImageStreamTag", result.Cycle!);
        }

        ImageWriteLog.TagMoved(logger, repository, request.Tag, digest, from.Repository);
        var code = creating || current is null ? 201 : 200;
        return await TagObjectAsync(context, repository, request.Tag) is { } istag
            ? Json(istag, ImageApiJsonContext.Default.ImageStreamTag, code)
            : Success(name, "imagestreamtags", code);
    }

    /// <summary>An ImageStream create (<paramref name="urlName"/> null) or update (PUT): needs push; moving a tag that points elsewhere needs overwrite too.</summary>
    private async Task<IResult> WriteStreamAsync(HttpContext context, string ns, string? urlName)
    {
        if (urlName is not null && ImageNames.RepositoryOf(ns, urlName) is null)
        {
            return InvalidStreamName(urlName);
        }

        var (request, invalid) = await ImageStreamRequest.ReadAsync(context.Request, ns, urlName, options.Value.MaxRequestBytes, context.RequestAborted);
        return request is null ? invalid! : await ChangeStreamAsync(context, ns, request, urlName is null ? SpecChangeMode.CreateStream : SpecChangeMode.UpdateStream);
    }

    /// <summary>How often a PATCH of an ImageStream is applied again when the stream changed between its read and its write.</summary>
    private const int PatchAttempts = 5;

    /// <summary>
    /// A PATCH of an ImageStream: the patch applied to the object as a GET returns it, then written
    /// as an update on condition that the stream is still the one read; when it changed meanwhile the
    /// patch is applied again to the new stream, as Kubernetes does, so concurrent patches all land.
    /// A resourceVersion in the patch itself is the caller's precondition and is never retried.
    /// </summary>
    private async Task<IResult> PatchStreamAsync(HttpContext context, string ns, string urlName)
    {
        if (ImageNames.RepositoryOf(ns, urlName) is not { } repository)
        {
            return InvalidStreamName(urlName);
        }

        var (patch, unreadable) = await ImagePatch.ReadAsync(context.Request, options.Value.MaxRequestBytes, context.RequestAborted);
        if (patch is null)
        {
            return unreadable!;
        }

        if (await access.CheckAsync(context, ImageAccessNeed.Of("imagestreams", "get", repository, ns)) is { } noRead)
        {
            return noRead;
        }

        for (var attempt = 1; ; attempt++)
        {
            if (await streams.GetAsync(repository) is not { } view)
            {
                return KubeStatus.NotFound($"imagestreams.{ImageObjects.Group} \"{urlName}\" not found");
            }

            var current = ImageObjects.Stream(repository, view, handlers.Hosts(context));
            var (patched, invalid) = ImagePatch.Apply(JsonSerializer.SerializeToUtf8Bytes(current with { Metadata = current.Metadata with { ResourceVersion = "" } }, ImageApiJsonContext.Default.ImageStream), patch, options.Value.MaxRequestBytes, ImagePatch.ImageStreamKeys);
            if (patched is null)
            {
                return invalid!;
            }

            var (request, refused) = ImageStreamRequest.Parse(patched, ns, urlName);
            if (request is null)
            {
                return refused!;
            }

            var own = request.ExpectedSequence is null;
            var result = await ChangeStreamAsync(context, ns, own ? request with { ExpectedSequence = view.Sequence } : request, SpecChangeMode.UpdateStream);
            if (!own || attempt == PatchAttempts || result is not KubeStatus { Code: StatusCodes.Status409Conflict, Reason: "Conflict", HasDetails: false })
            {
                return result;
            }
        }
    }

    /// <summary>
    /// Writes a stream's spec and metadata: every new or changed spec tag whose <c>from</c> names an
    /// image of a stream is resolved now (an image of another stream copied in first, as for an
    /// ImageStreamTag), a tracking tag by the repository itself; a source that does not exist is
    /// no error and moves nothing. Refusals that need no write are made before anything is copied.
    /// </summary>
    private async Task<IResult> ChangeStreamAsync(HttpContext context, string ns, ImageStreamRequest request, SpecChangeMode mode)
    {
        var repository = request.Repository;
        var name = request.Stream;
        if (await access.CheckAsync(context, ImageAccessNeed.Of("imagestreams", "create", repository, ns)) is { } refused)
        {
            return refused;
        }

        if (SpecTagRules.Cycle(repository, request.Tags) is { } cycle)
        {
            return CycleRefused(name, ImageStreamRequest.Kind, cycle);
        }

        var view = await streams.GetAsync(repository);
        switch (mode)
        {
            case SpecChangeMode.CreateStream when view is not null:
                return KubeStatus.AlreadyExists($"imagestreams.{ImageObjects.Group} \"{name}\" already exists");
            case SpecChangeMode.UpdateStream when view is null:
                return KubeStatus.NotFound($"imagestreams.{ImageObjects.Group} \"{name}\" not found");
        }

        if (request.ExpectedSequence is { } expected && view?.Sequence != expected)
        {
            return Stale(name, "imagestreams");
        }

        string? StatusOf(string tag) => view?.Tags.FirstOrDefault(t => t.Tag == tag && t.History.Count > 0)?.History[0].Digest;
        var stored = view?.Spec?.Tags ?? [];
        var resolved = new Dictionary<string, string>(StringComparer.Ordinal);
        var copies = new List<(string Source, string Digest)>();
        var mayMove = false;
        foreach (var tag in request.Tags.Where(t => t.From is { Kind: SpecTag.ImageStreamImage or SpecTag.ImageStreamTag } && !stored.Any(s => s.SameIntent(t))))
        {
            string? digest;
            if (SpecTagRules.Tracked(tag, repository) is { } followed)
            {
                // Resolved by the repository in its turn; its image now decides the access asked for.
                digest = resolved.GetValueOrDefault(followed) ?? StatusOf(followed);
            }
            else
            {
                var from = ImageStreamRequest.SourceOf(tag.From!, ns, name)!;
                if (from.Repository != repository
                    && await access.CheckAsync(context, ImageAccessNeed.Of(from.IsImage ? "imagestreamimages" : "imagestreamtags", "get", from.Repository, from.Namespace)) is { } noPull)
                {
                    return noPull;
                }

                (digest, var unresolved) = await ResolveAsync(from);
                if (digest is null)
                {
                    // A source that does not exist (yet) is allowed, as in the reference: the tag gets no image.
                    if (unresolved!.Code == 404)
                    {
                        continue;
                    }

                    return unresolved;
                }

                resolved[tag.Name] = digest;
                if (from.Repository != repository)
                {
                    copies.Add((from.Repository, digest));
                }
            }

            var current = StatusOf(tag.Name);
            if (digest is null || current is null || current == digest)
            {
                continue;
            }

            if (!mayMove && await access.CheckAsync(context, ImageAccessNeed.Of("imagestreams", "update", repository, ns)) is { } noOverwrite)
            {
                return noOverwrite;
            }

            mayMove = true;
            if (await tagGuard.MoveRefusalAsync(repository, tag.Name, current, digest, name) is { } immutable)
            {
                return immutable;
            }
        }

        StampOrigin(context);
        var copied = false;
        foreach (var (source, digest) in copies)
        {
            var (didCopy, copyError) = await CopyAsync(source, repository, digest, 0, context.RequestAborted);
            copied |= didCopy;
            if (copyError is not null)
            {
                return copyError;
            }
        }

        var change = new SpecChange(mode, request.Tags, request.Labels, request.Annotations, resolved, mayMove, copied ? null : request.ExpectedSequence, await tagGuard.RulesAsync(repository));
        var result = await grains.GetGrain<IRepositoryGrain>(repository).ChangeImageStreamSpec(change);
        switch (result.Outcome)
        {
            case SpecChangeOutcome.AlreadyExists:
                return KubeStatus.AlreadyExists($"imagestreams.{ImageObjects.Group} \"{name}\" already exists");
            case SpecChangeOutcome.NotFound:
                return KubeStatus.NotFound($"imagestreams.{ImageObjects.Group} \"{name}\" not found");
            case SpecChangeOutcome.Stale:
            case SpecChangeOutcome.NeedsOverwrite:
                return Stale(name, "imagestreams");
            case SpecChangeOutcome.Immutable:
                return ImageTagGuard.Refused(repository, result.Tag!, result.Rule, name, "imagestreams");
            case SpecChangeOutcome.Cycle:
                return CycleRefused(name, ImageStreamRequest.Kind, result.Cycle!);
        }

        ImageWriteLog.StreamWritten(logger, repository, request.Tags.Count, result.Moved?.Count ?? 0);
        var code = mode == SpecChangeMode.CreateStream ? 201 : 200;
        return await streams.GetAsync(repository) is { } written
            ? Json(ImageObjects.Stream(repository, written, handlers.Hosts(context)), ImageApiJsonContext.Default.ImageStream, code)
            : Success(name, "imagestreams", code);
    }

    private static KubeStatus InvalidStreamName(string name)
        => KubeStatus.BadRequest($"\"{name}\" is not a valid image stream name: the namespace and the name, with '~' for '/', must make a repository name");

    /// <summary>The digest <paramref name="from"/> names now: a tag's current image, or the one image of the stream whose digest is or starts with the id.</summary>
    private async Task<(string? Digest, KubeStatus? Error)> ResolveAsync(TagSource from)
    {
        var source = grains.GetGrain<IRepositoryGrain>(from.Repository);
        var notFound = KubeStatus.NotFound($"{(from.IsImage ? "imagestreamimages" : "imagestreamtags")}.{ImageObjects.Group} \"{from.Name}\" not found{(from.Namespace.Length > 0 ? $" in namespace {from.Namespace}" : "")}");
        if (!from.IsImage)
        {
            return await source.ResolveTag(from.Reference) is { } tagged ? (tagged.Digest, null) : (null, notFound);
        }

        var prefix = from.Reference.Contains(':', StringComparison.Ordinal) ? from.Reference : $"sha256:{from.Reference}";
        if (References.IsValidDigest(prefix))
        {
            return await source.GetManifest(prefix) is not null ? (prefix, null) : (null, notFound);
        }

        // A prefix is resolved against the stream's history, as an ImageStreamImage is read.
        var view = await source.GetImageStream();
        var matches = view is null ? [] : view.Tags.SelectMany(t => t.History).Select(h => h.Digest).Where(d => d.StartsWith(prefix, StringComparison.Ordinal)).Distinct(StringComparer.Ordinal).ToArray();
        return matches.Length switch
        {
            > 1 => (null, KubeStatus.Conflict($"\"{from.Reference}\" names {matches.Length} images of image stream {from.Namespace}/{from.Stream}: give more of the digest")),
            1 when await source.GetManifest(matches[0]) is not null => (matches[0], null),
            _ => (null, notFound),
        };
    }

    /// <summary>
    /// Makes <paramref name="target"/> hold manifest <paramref name="digest"/> of <paramref name="source"/>:
    /// the manifests an index names first, then its blobs mounted, then the manifest pushed by
    /// digest. True when anything was written.
    /// </summary>
    internal async Task<(bool Copied, KubeStatus? Error)> CopyAsync(string source, string target, string digest, int depth, CancellationToken ct)
    {
        var into = grains.GetGrain<IRepositoryGrain>(target);
        if (await into.GetManifest(digest) is not null)
        {
            return (false, null);
        }

        var gone = KubeStatus.NotFound($"image {digest} of {source} is no longer stored");
        if (depth > MaxCopyDepth)
        {
            return (false, KubeStatus.Invalid($"image {digest} of {source} nests indexes more than {MaxCopyDepth} deep: it is not copied"));
        }

        if (await grains.GetGrain<IRepositoryGrain>(source).GetManifest(digest) is not { } descriptor || await manifests.ReadAsync(descriptor, ct) is not { } stored)
        {
            return (false, gone);
        }

        var parsed = ManifestParser.Parse(stored.Content, descriptor.MediaType, out var parseError);
        if (parseError is not null)
        {
            return (false, new KubeStatus(500, "InternalError", $"image {digest} of {source} could not be read: {parseError.Detail}"));
        }

        foreach (var child in parsed.Children.Distinct(StringComparer.Ordinal))
        {
            if (await CopyAsync(source, target, child, depth + 1, ct) is { Error: { } childError })
            {
                return (true, childError);
            }
        }

        foreach (var blob in parsed.Blobs.Distinct(StringComparer.Ordinal))
        {
            if (await into.GetBlobSize(blob) is not null)
            {
                continue;
            }

            var (mounted, refused) = await blobs.MountAsync(target, blob, source, ct);
            if (refused is not null)
            {
                return (true, Refusal(refused, $"blob {blob} of image {digest} may not be copied into {target}"));
            }

            if (!mounted)
            {
                return (true, KubeStatus.NotFound($"blob {blob} of image {digest} is no longer stored in {source}"));
            }
        }

        var (_, pushError) = await manifests.PutAsync(target, digest, stored.Content, descriptor.MediaType, mayMoveTag: false, ct);
        return pushError is null ? (true, null) : (true, Refusal(pushError, $"image {digest} could not be copied into {target}"));
    }

    /// <summary>A /v2 refusal of a copy's mount or push as a Status: a quota's 403/429 keeps its code, anything else is a missing source.</summary>
    private static KubeStatus Refusal(OciError error, string what) => error.Code.Status switch
    {
        403 => KubeStatus.Forbidden($"{what}: {error.Detail ?? error.Code.Message}"),
        429 => KubeStatus.TooManyRequests($"{what}: {error.Detail ?? error.Code.Message}"),
        _ => KubeStatus.NotFound($"{what}: {error.Detail ?? error.Code.Message}"),
    };

    private async Task<IResult> DeleteTagAsync(HttpContext context, string ns, string name)
    {
        if (ImageNames.SplitTag(name) is not { } split || ImageNames.RepositoryOf(ns, split.Stream) is not { } repository)
        {
            return KubeStatus.BadRequest($"\"{name}\" is not a valid image stream tag name: use <stream>:<tag>");
        }

        if (await access.CheckAsync(context, ImageAccessNeed.Of("imagestreamtags", "delete", repository, ns)) is { } refused)
        {
            return refused;
        }

        StampOrigin(context);
        var deleted = await grains.GetGrain<IRepositoryGrain>(repository).DeleteImageStreamTag(split.Tag, await tagGuard.RulesAsync(repository));
        if (deleted.Refused)
        {
            return ImageTagGuard.Refused(repository, split.Tag, deleted.Rule, name, "imagestreamtags");
        }

        if (!deleted.Deleted)
        {
            return KubeStatus.NotFound($"imagestreamtags.{ImageObjects.Group} \"{name}\" not found");
        }

        ImageWriteLog.TagDeleted(logger, repository, split.Tag);
        return Success(name, "imagestreamtags", 200);
    }

    private async Task<IResult> DeleteStreamAsync(HttpContext context, string ns, string name)
    {
        if (ImageNames.RepositoryOf(ns, name) is not { } repository)
        {
            return KubeStatus.BadRequest($"\"{name}\" is not a valid image stream name: the namespace and the name, with '~' for '/', must make a repository name");
        }

        if (await access.CheckAsync(context, ImageAccessNeed.Of("imagestreams", "delete", repository, ns)) is { } refused)
        {
            return refused;
        }

        StampOrigin(context);
        var deleted = await tagGuard.DeleteStreamAsync(repository);
        if (deleted.Refused)
        {
            return ImageTagGuard.Refused(repository, deleted.Tag!, deleted.Rule, name, "imagestreams");
        }

        if (!deleted.Deleted)
        {
            return KubeStatus.NotFound($"imagestreams.{ImageObjects.Group} \"{name}\" not found");
        }

        ImageWriteLog.StreamDeleted(logger, repository);
        return Success(name, "imagestreams", 200);
    }

    private async Task<ImageStreamTag?> TagObjectAsync(HttpContext context, string repository, string tag)
    {
        var view = await streams.GetAsync(repository);
        var found = view?.Tags.FirstOrDefault(t => t.Tag == tag && t.History.Count > 0);
        if (found is null || await streams.ManifestAsync(repository, found.History[0].Digest) is not { } manifest || await facts.GetAsync(manifest, context.RequestAborted) is not { } kept)
        {
            return null;
        }

        return ImageObjects.Tag(repository, view!, found, ImageObjects.Image(kept, repository, handlers.Hosts(context)));
    }

    /// <summary>
    /// Who asks, for the events of the changes that follow (as on <c>/v2</c>). Synchronous on
    /// purpose: the Orleans request context is an async-local, so it stays set for the caller.
    /// </summary>
    internal void StampOrigin(HttpContext context)
        => ChangeOrigins.Stamp(context, ApiAccess.CallerOf(context)?.Identity.Name is { Length: > 0 } subject ? subject : context.User.Identity?.Name, _source.Value);

    internal static KubeStatus CycleRefused(string name, string kind, IReadOnlyList<string> cycle)
        => KubeStatus.Invalid($"{kind}.{ImageObjects.Group} \"{name}\" is invalid: spec.tags: Invalid value: tracking tags follow each other in a cycle: {string.Join(" -> ", cycle)}")
            .WithDetails(new StatusDetails(name, ImageObjects.Group, kind, [new StatusCause("FieldValueInvalid", $"spec.tags: tracking tags follow each other in a cycle: {string.Join(" -> ", cycle)}")]));

    private static KubeStatus Stale(string name, string resource = "imagestreamtags")
        => KubeStatus.Conflict($"Operation cannot be fulfilled on {resource}.{ImageObjects.Group} \"{name}\": the object has been modified; please apply your changes to the latest version and try again");

    internal static IResult Success(string name, string kind, int code)
        => Json(new SuccessStatus("Status", "v1", new StatusMeta(), "Success", new SuccessDetails(name, ImageObjects.Group, kind)), ImageWriteJsonContext.Default.SuccessStatus, code);

    internal static IResult Json<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, int code)
        => Results.Text(JsonSerializer.Serialize(value, type), "application/json", null, code);
}

/// <summary>A meta/v1 <c>Status</c> of success: what a delete answers.</summary>
public sealed record SuccessStatus(string Kind, string ApiVersion, StatusMeta Metadata, string Status, SuccessDetails Details);

public sealed record SuccessDetails(string Name, string Group, string Kind);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SuccessStatus))]
internal sealed partial class ImageWriteJsonContext : JsonSerializerContext;

internal static partial class ImageWriteLog
{
    [LoggerMessage(10, LogLevel.Information, "Image API: tag {Repository}:{Tag} points at {Digest} (from {Source})")]
    public static partial void TagMoved(ILogger logger, string repository, string tag, string digest, string source);

    [LoggerMessage(11, LogLevel.Information, "Image API: tag {Repository}:{Tag} deleted")]
    public static partial void TagDeleted(ILogger logger, string repository, string tag);

    [LoggerMessage(12, LogLevel.Information, "Image API: image stream {Repository} deleted (every tag, manifest and blob link)")]
    public static partial void StreamDeleted(ILogger logger, string repository);

    [LoggerMessage(13, LogLevel.Information, "Image API: image stream {Repository} written ({SpecTags} spec tags, {Moved} tags moved)")]
    public static partial void StreamWritten(ILogger logger, string repository, int specTags, int moved);
}
