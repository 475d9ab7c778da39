using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Registry.Api.Json;
using Registry.Api.Services;
using Registry.Grains;

namespace Registry.Api.Oci;

/// <summary>Tags list, catalog and referrers: answered from grain state, never by walking storage.</summary>
public sealed class ListingHandlers(IGrainFactory grains, IOptions<ApiOptions> options, Access.CatalogAccess access, Access.AccessGate gate)
{
    /// <summary>The memory rendered tags pages may take; a page a client pages through again is then rendered once.</summary>
    private const long RenderedTagsBytes = 16 * 1024 * 1024;

    /// <summary>Rendered tags pages by repository, tags stamp and page: a new stamp means other tags, so an entry is never stale.</summary>
    private readonly MemoryCache _renderedTags = new(new MemoryCacheOptions { SizeLimit = RenderedTagsBytes });

    private int MaxPage => options.Value.Limits.MaxPageSize;

    public async Task<IResult> TagsAsync(HttpContext context, string name)
    {
        if (!Query.TryPageSize(context.Request, MaxPage, out var size, out var error))
        {
            return error!;
        }

        var last = Query.Last(context.Request);
        var listing = await grains.GetGrain<IRepositoryGrain>(name).ListTags(last, size);
        if (listing is null)
        {
            return OciErrorCode.NameUnknown.WithDetail($"repository {name} is not known");
        }

        var key = (name, listing.Stamp, last, size);
        if (!_renderedTags.TryGetValue(key, out byte[]? body) || body is null)
        {
            body = JsonSerializer.SerializeToUtf8Bytes(new TagsPage(name, listing.Tags), ApiJsonContext.Default.TagsPage);
            _renderedTags.Set(key, body, new MemoryCacheEntryOptions { Size = body.Length });
        }

        var result = OciResult.Status(200).WithBody("application/json", body);
        return listing.NextLast is { } next
            ? result.WithHeader("Link", Query.NextLink($"/v2/{name}/tags/list", size, next))
            : result;
    }

    public async Task<IResult> CatalogAsync(HttpContext context)
    {
        if (!Query.TryPageSize(context.Request, MaxPage, out var size, out var error))
        {
            return error!;
        }

        var last = Query.Last(context.Request);
        var page = await access.FilterAsync(context) is { } filter
            ? await FilteredPageAsync(last, size, filter, context.RequestAborted)
            : await RegistryCatalog.ListAsync(grains, last, size);
        if (page.Names.Count == 0 && size > 0 && last is null && Access.AccessGate.CallerOf(context) is { Identity.IsAnonymous: true } anonymous)
        {
            // Anonymous may pull nothing at all: into the token flow, as for any other resource.
            return await gate.RefuseAsync(context, anonymous, [Access.AccessItem.Catalog]);
        }

        var result = OciResult.Json(200, "application/json", new CatalogPage(page.Names), ApiJsonContext.Default.CatalogPage);
        return page.More && page.Names.Count > 0
            ? result.WithHeader("Link", Query.NextLink("/v2/_catalog", size, page.Names[^1]))
            : result;
    }

    /// <summary>
    /// A page of the repositories the caller may pull: exact paging over the filtered list (one
    /// name looked ahead says whether there is a next page). A caller that may pull few of many
    /// repositories makes the registry read the catalog until the page is full or it ends.
    /// </summary>
    private async Task<NamePage> FilteredPageAsync(string? last, int size, Func<string, ValueTask<bool>> filter, CancellationToken ct)
    {
        var names = new List<string>(Math.Min(size + 1, 1024));
        await foreach (var name in access.ListAsync(last, filter, ct))
        {
            names.Add(name);
            if (names.Count > size)
            {
                break;
            }
        }

        var more = names.Count > size;
        return new NamePage(more ? names[..size] : names, more);
    }

    public async Task<IResult> ReferrersAsync(HttpContext context, string name, string digest)
    {
        if (!References.IsValidDigest(digest))
        {
            return OciErrorCode.DigestInvalid.WithDetail($"'{digest}' is not a sha256 or sha512 digest");
        }

        var artifactType = context.Request.Query.TryGetValue("artifactType", out var filter) && filter.ToString().Length > 0 ? filter.ToString() : null;
        var referrers = await grains.GetGrain<IRepositoryGrain>(name).GetReferrers(digest, artifactType);
        var manifests = new ReferrerDescriptor[referrers.Count];
        for (var i = 0; i < manifests.Length; i++)
        {
            var r = referrers[i];
            manifests[i] = new ReferrerDescriptor(r.MediaType, r.Digest, r.Size, r.ArtifactType, r.Annotations is { Count: > 0 } ? r.Annotations : null);
        }

        var result = OciResult.Json(200, MediaTypes.OciIndex, new ReferrersIndex(2, MediaTypes.OciIndex, manifests), ApiJsonContext.Default.ReferrersIndex);
        return artifactType is null ? result : result.WithHeader("OCI-Filters-Applied", "artifactType");
    }
}

/// <summary><c>{"name":…,"tags":[…]}</c>.</summary>
internal sealed record TagsPage(string Name, IReadOnlyList<string> Tags);

/// <summary><c>{"repositories":[..]}</c>.</summary>
internal sealed record CatalogPage(IReadOnlyList<string> Repositories);

/// <summary>The referrers answer: an OCI image index of the manifests that name the subject.</summary>
internal sealed record ReferrersIndex(int SchemaVersion, string MediaType, IReadOnlyList<ReferrerDescriptor> Manifests);

/// <summary>A referrer's descriptor; <c>artifactType</c> and <c>annotations</c> only when there are some.</summary>
internal sealed record ReferrerDescriptor(
    string MediaType,
    string Digest,
    long Size,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ArtifactType,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyDictionary<string, string>? Annotations);
