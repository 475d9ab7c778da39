using System.Net;
using System.Text.Json;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>
/// The catalog spread over shard grains, through the API of a real in-process registry: pages merged
/// from the shards are exactly the ordinal order, whatever the page size and wherever a page starts.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class CatalogShardTests
{
    /// <summary>
    /// First components that differ only in punctuation or by a prefix sort between each other's
    /// repositories (<c>-</c> &lt; <c>.</c> &lt; <c>/</c> &lt; digits &lt; <c>_</c> &lt; letters), so per-namespace runs could not be concatenated.
    /// </summary>
    private static readonly string[] Names =
    [
        "a/x", "a/x/y", "a-b/x", "a--b/x", "a.b", "a.b/c", "a_b/x", "a__b", "a0/x", "ab", "ab/c/d",
        "b", "b/a", "b-0", "b.0/z", "z9", "z9/z9",
    ];

    [Fact]
    public void ShardsAreAStableHashOfTheName()
    {
        // Stored names are found again only under the same hash: pinned, never to change.
        Assert.Equal(16, RegistryCatalog.ShardCount);
        Assert.Equal([3, 6, 8, 5, 4], new[] { "a/x", "library/alpine", "team/app", "", "a-b/x" }.Select(RegistryCatalog.ShardOf));
        Assert.All(Names, n => Assert.InRange(RegistryCatalog.ShardOf(n), 0, RegistryCatalog.ShardCount - 1));
    }

    [Fact]
    public async Task EveryPageSizeAndStartPagesExactlyAcrossShards()
    {
        await using var host = await RegistryHost.StartAsync();
        await Task.WhenAll(Names.Select(n => host.Client.PushBlobAsync(n, Oci.RandomBytes(16)))).WithinAsync();
        var expected = Names.Order(StringComparer.Ordinal).ToArray();

        // The names are spread: most neighbours in the listing come from different shards.
        var shards = expected.Select(RegistryCatalog.ShardOf).ToArray();
        Assert.True(shards.Distinct().Count() >= 8, $"only shards {string.Join(",", shards.Distinct())}");
        Assert.True(shards.Zip(shards.Skip(1)).Count(p => p.First != p.Second) >= expected.Length / 2);

        using (var all = await host.Client.GetAsync("/v2/_catalog"))
        {
            Assert.Equal(expected, await RepositoriesAsync(all));
            Assert.False(all.Headers.Contains("Link"));
        }

        for (var n = 1; n <= expected.Length + 1; n++)
        {
            var listed = new List<string>();
            string? next = $"/v2/_catalog?n={n}";
            while (next is not null)
            {
                using var page = await host.Client.GetAsync(next);
                Assert.Equal(HttpStatusCode.OK, page.StatusCode);
                var names = await RepositoriesAsync(page);
                Assert.InRange(names.Length, 1, n);
                listed.AddRange(names);
                next = page.Headers.TryGetValues("Link", out var link) ? link.Single().Split('<', '>')[1] : null;
                Assert.Equal(listed.Count < expected.Length, next is not null);
                if (next is not null)
                {
                    Assert.Equal($"/v2/_catalog?n={n}&last={Uri.EscapeDataString(names[^1])}", next);
                }
            }

            Assert.Equal(expected, listed);
        }

        // Pages that start anywhere, also at names that are not in the catalog (upper case never is).
        foreach (var last in new[] { "a", "a/", "a/x", "a-", "a-b/x", "A", "a.b/", "a0", "ab/c", "b/", "Z", "z9/z9", "zz", "~" })
        {
            foreach (var n in new[] { 1, 2, 3, 5, 100 })
            {
                using var page = await host.Client.GetAsync($"/v2/_catalog?n={n}&last={Uri.EscapeDataString(last)}");
                var after = expected.Where(e => string.CompareOrdinal(e, last) > 0).ToArray();
                Assert.Equal(after.Take(n), await RepositoriesAsync(page));
                Assert.Equal(after.Length > n, page.Headers.Contains("Link"));
            }
        }

        using var none = await host.Client.GetAsync("/v2/_catalog?n=0");
        Assert.Empty(await RepositoriesAsync(none));
        Assert.False(none.Headers.Contains("Link"));
    }

    [Fact]
    public async Task ConcurrentNewRepositoriesAreAllListedOnceAcknowledged()
    {
        var data = Directory.CreateTempSubdirectory("registry-test-").FullName;
        try
        {
            var prefix = SharedRegistry.UniqueName("burst");
            var names = Enumerable.Range(0, 64).Select(i => $"{prefix}/r{i:D2}").ToArray();
            Assert.True(names.Select(RegistryCatalog.ShardOf).Distinct().Count() >= 8);
            await using (var host = await RegistryHost.StartAsync(data))
            {
                await Task.WhenAll(names.Select(n => host.Client.PushBlobAsync(n, Oci.RandomBytes(16)))).WithinAsync();

                // Registration is durable before the push is acknowledged: listed at once, in order.
                Assert.Equal(names, await host.Client.CatalogAsync());
            }

            // And after a restart, from the shards' stored state.
            await using var restarted = await RegistryHost.StartAsync(data);
            Assert.Equal(names, await restarted.Client.CatalogAsync());
            Assert.True(Directory.GetFiles(Path.Combine(data, "state", "catalog", "catalogshard")).Length >= 8);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    /// <summary>
    /// A data directory of the single-grain catalog (written by the registry at 732411b: five
    /// repositories pushed, the file <c>state/catalog/catalog/0</c> taken as it was) is listed
    /// after the upgrade, its names move into the shards on first use, and new ones join them.
    /// </summary>
    [Fact]
    public async Task TheSingleGrainCatalogOfEarlierVersionsMovesIntoTheShards()
    {
        const string LegacyCatalog = "BQAAAAAAAAAgIAALQQ9hLWIvb2xkQAthL29sZEAZbGVnYWN5L2FscGhhQBdsZWdhY3kvemV0YUAHb2xk4OA=";
        string[] legacy = ["a-b/old", "a/old", "legacy/alpha", "legacy/zeta", "old"];
        var data = Directory.CreateTempSubdirectory("registry-test-").FullName;
        try
        {
            var file = Path.Combine(data, "state", "catalog", "catalog", "0");
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            await File.WriteAllBytesAsync(file, Convert.FromBase64String(LegacyCatalog));
            string[] all = [.. legacy.Append("a.b/new").Append("legacy/beta").Order(StringComparer.Ordinal)];
            await using (var host = await RegistryHost.StartAsync(data))
            {
                Assert.Equal(legacy, await host.Client.CatalogAsync());
                await host.Client.PushBlobAsync("legacy/beta", Oci.RandomBytes(16));
                await host.Client.PushBlobAsync("a.b/new", Oci.RandomBytes(16));
                Assert.Equal(all, await host.Client.CatalogAsync());
                using var page = await host.Client.GetAsync("/v2/_catalog?n=2&last=a-b%2Fold");
                Assert.Equal(["a.b/new", "a/old"], await RepositoriesAsync(page));
            }

            // The old list is gone from the root's state (it holds the shard numbers now), and the
            // names are read from the shards after a restart.
            var root = await File.ReadAllBytesAsync(file);
            Assert.True(root.Length < Convert.FromBase64String(LegacyCatalog).Length, $"the root state is still {root.Length} bytes");
            Assert.DoesNotContain("legacy/zeta", System.Text.Encoding.UTF8.GetString(root), StringComparison.Ordinal);
            await using var restarted = await RegistryHost.StartAsync(data);
            Assert.Equal(all, await restarted.Client.CatalogAsync());
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    internal static async Task<string[]> RepositoriesAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("repositories").EnumerateArray().Select(e => e.GetString()!).ToArray();
    }
}
