namespace Registry.Grains;

/// <summary>
/// A repository's tags in pages, sorted once until they change. Clients page through the same
/// list again and again (pulls resolve tags, CI polls), so the last page is kept and returned as
/// the same object until the tags change (the API caches its rendered bytes by that object).
/// </summary>
internal sealed class TagsPages
{
    private string[]? _sorted;
    private (string? Last, int Limit, TagsListing Listing)? _last;

    /// <summary>Random, so that no two tag sets share one, across activations too.</summary>
    private long _stamp = Random.Shared.NextInt64();

    /// <summary>The tags were added to or removed from.</summary>
    public void Changed()
    {
        _sorted = null;
        _last = null;
        _stamp = Random.Shared.NextInt64();
    }

    public TagsListing Page(IEnumerable<string> tags, string? last, int limit)
    {
        if (_last is { } cached && cached.Limit == limit && string.Equals(cached.Last, last, StringComparison.Ordinal))
        {
            return cached.Listing;
        }

        _sorted ??= tags.Order(StringComparer.Ordinal).ToArray();
        var page = Paging.Page(_sorted, last, limit);
        var listing = new TagsListing(page.Names, page.More && page.Names.Count > 0 ? page.Names[^1] : null, _stamp);
        _last = (last, limit, listing);
        return listing;
    }
}
