using System.Security.Cryptography;
using Registry.Api.Services;

namespace Registry.Tests;

/// <summary>
/// The global bound on read buffering (issue 13, item 2): blob GETs together never hold more
/// than <c>Registry:Limits:ReadBufferBytes</c> in leased windows, and a GET beyond the budget
/// still gets every byte.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ReadWindowBudgetTests
{
    private const long Budget = 8 * 1024 * 1024;

    [Fact]
    public void WindowsShrinkAsTheBudgetIsSpentAndNeverExceedIt()
    {
        var budget = new ReadWindowBudget(Budget);

        // Large windows while less than half is leased, then 256 KiB ones up to the budget, then the floor.
        var first = budget.Lease(long.MaxValue);
        Assert.Equal(new ReadWindowBudget.Window(ReadWindowBudget.LargeWindow, true), first);
        var windows = Enumerable.Range(0, 100).Select(_ => budget.Lease(long.MaxValue)).ToList();

        Assert.Equal(16, windows.Count(w => w == new ReadWindowBudget.Window(ReadWindowBudget.SmallWindow, true)));
        Assert.Equal(84, windows.Count(w => w == new ReadWindowBudget.Window(ReadWindowBudget.FloorWindow, false)));
        Assert.Equal(Budget, budget.InUse);
        Assert.Equal(Budget, budget.Peak);
        Assert.Equal(84, budget.Denied);

        foreach (var window in windows.Append(first))
        {
            budget.Return(window);
        }

        Assert.Equal(0, budget.InUse);
        Assert.Equal(ReadWindowBudget.LargeWindow, budget.Lease(long.MaxValue).Size);
    }

    [Fact]
    public void ASmallRemainderTakesASmallWindow()
    {
        var budget = new ReadWindowBudget(Budget);

        Assert.Equal(ReadWindowBudget.SmallWindow, budget.Lease(ReadWindowBudget.SmallWindow).Size);
        Assert.Equal(new ReadWindowBudget.Window(ReadWindowBudget.FloorWindow, false), budget.Lease(1000));
        Assert.Equal(ReadWindowBudget.SmallWindow, budget.InUse);
        Assert.Equal(0, budget.Denied);
    }

    [Fact]
    public async Task ConcurrentLeasesFromManyThreadsNeverExceedTheBudget()
    {
        var budget = new ReadWindowBudget(Budget);

        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < 20_000; i++)
            {
                var window = budget.Lease(long.MaxValue);
                Assert.True(budget.InUse <= Budget);
                budget.Return(window);
            }
        })));

        Assert.Equal(0, budget.InUse);
        Assert.InRange(budget.Peak, ReadWindowBudget.LargeWindow, Budget);
    }

    [Fact]
    public async Task SlowPullsBeyondTheBudgetAllGetTheirBlobWhileLeasedWindowsStayWithinIt()
    {
        await using var host = await RegistryHost.StartAsync(null, $"--Registry:Limits:ReadBufferBytes={Budget}");
        var budget = host.Service<ReadWindowBudget>();
        var name = SharedRegistry.UniqueName("readbudget");
        var content = Oci.RandomBytes(8 * 1024 * 1024);
        var digest = await host.Client.PushBlobAsync(name, content);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = host.BaseAddress, Timeout = TimeSpan.FromMinutes(2) };

        // 40 clients that have each read the first bytes and then stop reading, as slow clients do:
        // every response waits on its client with a window leased.
        var responses = await Task.WhenAll(Enumerable.Range(0, 40).Select(async _ =>
        {
            var response = await http.GetAsync($"/v2/{name}/blobs/{digest}", HttpCompletionOption.ResponseHeadersRead);
            response.EnsureSuccessStatusCode();
            var body = await response.Content.ReadAsStreamAsync();
            var first = new byte[1];
            await body.ReadExactlyAsync(first);
            return (response, body, first[0]);
        }));
        await Eventually.HoldsAsync(() => budget.InUse > Budget - ReadWindowBudget.SmallWindow && budget.Denied > 0, "the stalled responses have spent the read budget");

        Assert.InRange(budget.Peak, 0, Budget);
        var digests = await Task.WhenAll(responses.Select(async r =>
        {
            using (r.response)
            await using (r.body)
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                hash.AppendData([r.Item3]);
                var buffer = new byte[64 * 1024];
                int read;
                while ((read = await r.body.ReadAsync(buffer)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                }

                return "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
            }
        }));

        Assert.All(digests, d => Assert.Equal(digest, d));
        Assert.InRange(budget.Peak, 0, Budget);
        await Eventually.HoldsAsync(() => budget.InUse == 0, "every window is given back");
    }
}
