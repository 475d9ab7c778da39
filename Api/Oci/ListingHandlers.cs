using System.Runtime.CompilerServices;
using Microsoft.Extensions.Options;
using Registry.Api.Services;
using Registry.Grains;

namespace Registry.Api.Oci;

/// <summary>Tags list, catalog and referrers: answered from grain state, never by walking storage.</summary>
public sealed class ListingHandlers(IGrainFactory grains, IOptions<ApiOptions> options)
{
    /// <summary>
    /// Rendered tags pages, by the page object: the repository grain returns the same one until its
    /// tags change (and a call within the process passes it by reference), so a list read again and
    /// again is rendered once; an entry lives as long as the grain keeps its page.
    /// </summary>
    private readonly ConditionalWeakTable<TagsListing, byte[]> _renderedTags = new();

    private int MaxPage => options.Value.Limits.MaxPageSize;

    public async Task<IResult> TagsAsync(HttpContext context, string name)
    {
        if (!Query.TryPageSize(context.Request, MaxPage, out var size, out var error))
        {
            return error!;
        }

        var listing = await grains.GetGrain<IRepositoryGrain>(name).ListTags(Query.Last(context.Request), size);
        if (listing is null)
        {
            return OciErrorCode.NameUnknown.WithDetail($"repository {name} is not known");
        }

        if (!_renderedTags.TryGetValue(listing, out var body))
        {
            body = RenderTags(name, listing);
            _renderedTags.AddOrUpdate(listing, body);
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

        var page = await grains.GetGrain<ICatalogGrain>(0).List(Query.Last(context.Request), size);
        var result = OciResult.Json(200, "application/json", json =>
        {
            json.WriteStartObject();
            WriteNames(json, "repositories", page.Names);
            json.WriteEndObject();
        });
        return page.More && page.Names.Count > 0
            ? result.WithHeader("Link", Query.NextLink("/v2/_catalog", size, page.Names[^1]))
            : result;
    }

    public async Task<IResult> ReferrersAsync(HttpContext context, string name, string digest)
    {
        if (!References.IsValidDigest(digest))
        {
            return OciErrorCode.DigestInvalid.WithDetail($"'{digest}' is not a sha256 or sha512 digest");
        }

        var artifactType = context.Request.Query.TryGetValue("artifactType", out var filter) && filter.ToString().Length > 0 ? filter.ToString() : null;
        var referrers = await grains.GetGrain<IRepositoryGrain>(name).GetReferrers(digest, artifactType);
        var result = OciResult.Json(200, MediaTypes.OciIndex, json =>
        {
            json.WriteStartObject();
            json.WriteNumber("schemaVersion", 2);
            json.WriteString("mediaType", MediaTypes.OciIndex);
            json.WriteStartArray("manifests");
            foreach (var r in referrers)
            {
                json.WriteStartObject();
                json.WriteString("mediaType", r.MediaType);
                json.WriteString("digest", r.Digest);
                json.WriteNumber("size", r.Size);
                if (r.ArtifactType is not null)
                {
                    json.WriteString("artifactType", r.ArtifactType);
                }

                if (r.Annotations is { Count: > 0 })
                {
                    json.WriteStartObject("annotations");
                    foreach (var (key, value) in r.Annotations)
                    {
                        json.WriteString(key, value);
                    }

                    json.WriteEndObject();
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        });
        return artifactType is null ? result : result.WithHeader("OCI-Filters-Applied", "artifactType");
    }

    /// <summary>The tags list body: <c>{"name":…,"tags":[…]}</c>.</summary>
    private static byte[] RenderTags(string name, TagsListing listing)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(64 + (listing.Tags.Count * 16));
        using (var json = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("name", name);
            WriteNames(json, "tags", listing.Tags);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteNames(System.Text.Json.Utf8JsonWriter json, string property, IReadOnlyList<string> names)
    {
        json.WriteStartArray(property);
        foreach (var n in names)
        {
            json.WriteStringValue(n);
        }

        json.WriteEndArray();
    }
}
