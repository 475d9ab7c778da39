namespace Registry.Grains;

/// <summary>
/// The catalog of repositories, spread over <see cref="ShardCount"/> shard grains by a hash of the
/// name so that creating repositories scales with replicas (each shard may live on another silo,
/// and each coalesces concurrent additions into few state writes). A listing merges the shards'
/// sorted pages into one ordinal order, so paging is exact across shard boundaries.
/// </summary>
public static class RegistryCatalog
{
    /// <summary>Fixed for good: stored names are found again only under the same count (changing it needs a migration).</summary>
    public const int ShardCount = 16;

    /// <summary>The shard of a repository: FNV-1a of its UTF-16 code units, stable across processes and versions.</summary>
    public static int ShardOf(string repository)
    {
        var hash = 2166136261u;
        foreach (var c in repository)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return (int)(hash % ShardCount);
    }

    /// <summary>Registers a repository; returns once the registration is durable.</summary>
    public static Task AddAsync(IGrainFactory grains, string repository)
        => grains.GetGrain<ICatalogShardGrain>(ShardOf(repository)).Add(repository);

    /// <summary>Unregisters a repository its grain found empty; returns once that is durable.</summary>
    public static Task RemoveAsync(IGrainFactory grains, string repository)
        => grains.GetGrain<ICatalogShardGrain>(ShardOf(repository)).Remove(repository);

    /// <summary>
    /// Up to <paramref name="limit"/> repository names after <paramref name="last"/>, in ordinal
    /// order, merged from every shard that holds names; <see cref="NamePage.More"/> when any shard
    /// holds names after the page.
    /// </summary>
    public static async Task<NamePage> ListAsync(IGrainFactory grains, string? last, int limit)
    {
        var shards = await grains.GetGrain<ICatalogIndexGrain>(0).Shards();
        if (shards.Length == 0)
        {
            return new NamePage([], false);
        }

        var cursors = shards.Select(s => new Cursor(grains.GetGrain<ICatalogShardGrain>(s), last)).ToArray();

        // A fair share of the page from each shard, with slack for the unevenness of the hash; a
        // shard that runs dry while it has more is asked again for the rest of the page.
        var share = limit == 0 ? 0 : Math.Min(limit, (limit / cursors.Length) + (limit / (4 * cursors.Length)) + 8);
        await Task.WhenAll(cursors.Select(c => c.FetchAsync(share)));

        var names = new List<string>(Math.Min(limit, 1024));
        while (names.Count < limit)
        {
            var dry = cursors.Where(c => c.Dry).ToArray();
            if (dry.Length > 0)
            {
                var rest = limit - names.Count;
                await Task.WhenAll(dry.Select(c => c.FetchAsync(rest)));
            }

            Cursor? least = null;
            foreach (var c in cursors)
            {
                if (c.Head is { } head && (least is null || string.CompareOrdinal(head, least.Head) < 0))
                {
                    least = c;
                }
            }

            if (least is null)
            {
                break;
            }

            names.Add(least.Take());
        }

        return new NamePage(names, cursors.Any(c => c.Head is not null || c.More));
    }

    /// <summary>A shard's names after a point, fetched a page at a time.</summary>
    private sealed class Cursor(ICatalogShardGrain shard, string? after)
    {
        private IReadOnlyList<string> _names = [];
        private int _next;

        /// <summary>The shard holds names after those fetched.</summary>
        public bool More { get; private set; } = true;

        /// <summary>Every fetched name was taken but the shard holds more: it must be asked before any name is chosen.</summary>
        public bool Dry => _next == _names.Count && More;

        public string? Head => _next < _names.Count ? _names[_next] : null;

        public string Take() => _names[_next++];

        public async Task FetchAsync(int limit)
        {
            var page = await shard.List(after, limit);
            _names = page.Names;
            _next = 0;
            More = page.More;
            if (page.Names.Count > 0)
            {
                after = page.Names[^1];
            }
        }
    }
}
