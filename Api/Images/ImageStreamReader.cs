using System.Text;
using Registry.Grains;

namespace Registry.Api.Images;

/// <summary>A stream found by a listing: its repository and what its grain showed.</summary>
public sealed record ListedStream(string Repository, ImageStreamView View);

/// <summary>
/// Reads image streams from the repository grains, and walks the catalog for listings: in one
/// namespace (the contiguous run of names after <c>ns/</c>) or across all of them.
/// </summary>
public sealed class ImageStreamReader(IGrainFactory grains)
{
    /// <summary>Names asked of the catalog at once while a page fills.</summary>
    private const int CatalogBatch = 256;

    public async Task<ImageStreamView?> GetAsync(string repository)
        => await grains.GetGrain<IRepositoryGrain>(repository).GetImageStream();

    /// <summary>
    /// Up to <paramref name="limit"/> streams after repository <paramref name="after"/>, of
    /// namespace <paramref name="ns"/> or of every namespace, in repository name order; those
    /// <paramref name="include"/> refuses are skipped. The continue point is the last repository
    /// looked at when more may follow.
    /// </summary>
    public async Task<(IReadOnlyList<ListedStream> Streams, string? Next)> ListAsync(string? ns, string? after, int limit, Func<string, ValueTask<bool>> include)
    {
        var prefix = ns is null ? null : ns + "/";
        var last = after ?? prefix;
        var streams = new List<ListedStream>();
        while (streams.Count < limit)
        {
            var page = await RegistryCatalog.ListAsync(grains, last, Math.Min(CatalogBatch, Math.Max(limit - streams.Count, 16)));
            var names = new List<string>();
            var ended = !page.More || page.Names.Count == 0;
            foreach (var name in page.Names)
            {
                if (prefix is not null && !name.StartsWith(prefix, StringComparison.Ordinal))
                {
                    ended = true;
                    break;
                }

                names.Add(name);
            }

            // One call per repository, in parallel; then in name order, up to the page's end.
            var candidates = names.Where(n => ImageNames.StreamOf(n) is not null).ToArray();
            var views = await Task.WhenAll(candidates.Select(async n => (Name: n, View: await include(n) ? await GetAsync(n) : null)));
            var byName = views.ToDictionary(v => v.Name, v => v.View, StringComparer.Ordinal);
            foreach (var name in names)
            {
                last = name;
                if (byName.GetValueOrDefault(name) is { } view)
                {
                    streams.Add(new ListedStream(name, view));
                    if (streams.Count == limit)
                    {
                        return (streams, name == names[^1] && ended ? null : name);
                    }
                }
            }

            if (ended)
            {
                return (streams, null);
            }
        }

        return (streams, last);
    }

    /// <summary>The repositories after <paramref name="after"/>, in name order, <paramref name="count"/> at most.</summary>
    public Task<NamePage> RepositoriesAsync(string? after, int count) => RegistryCatalog.ListAsync(grains, after, count);

    public Task<ManifestDescriptor?> ManifestAsync(string repository, string digest)
        => grains.GetGrain<IRepositoryGrain>(repository).GetManifest(digest).AsTask();

    public Task<ManifestPage> ManifestsAsync(string repository, string? after, int limit)
        => grains.GetGrain<IRepositoryGrain>(repository).ListManifests(after, limit).AsTask();

    /// <summary>An opaque <c>continue</c> value for a position (base64url of its parts).</summary>
    public static string EncodeContinue(params string[] parts)
        => Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Join('\n', parts))).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The parts of a <c>continue</c> value, or null when it is not one of ours.</summary>
    public static string[]? DecodeContinue(string value)
    {
        var base64 = value.Replace('-', '+').Replace('_', '/');
        base64 = base64.PadRight(base64.Length + ((4 - (base64.Length % 4)) % 4), '=');
        var bytes = new byte[base64.Length];
        return value.Length > 0 && Convert.TryFromBase64String(base64, bytes, out var written)
            ? Encoding.UTF8.GetString(bytes, 0, written).Split('\n')
            : null;
    }
}
