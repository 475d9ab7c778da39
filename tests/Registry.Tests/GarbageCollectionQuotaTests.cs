using System.Net;
using System.Text;
using System.Text.Json;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>
/// The quota hammer (QuotaTests) with collections racing it: pushes, deletes and unlinks into a
/// namespace with a quota while collections with both policies on prune and sweep as if everything
/// were past the grace period. The tracked usage equals a recount throughout, and after a final
/// collection (docs/quotas.md, docs/garbage-collection.md).
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class GarbageCollectionQuotaTests
{
    [Fact]
    public async Task ConcurrentPushesDeletesAndCollectionsLeaveTheTrackedUsageEqualToARecount()
    {
        await using var host = await RegistryHost.StartAsync(null, "--Registry:GarbageCollection:RemoveUntagged=true", "--Registry:GarbageCollection:RemoveUnusedLinks=true");
        var client = host.Client;
        var collector = host.Service<IGarbageCollector>();
        var ns = QuotaTests.NewNamespace();
        const long limit = 200_000;
        using (var quota = await client.PutAsync(QuotaPath(ns), new StringContent("{\"spec\":{\"hard\":{\"storage\":" + limit.ToString(System.Globalization.CultureInfo.InvariantCulture) + ",\"repositories\":4}}}", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.Created, quota.StatusCode);
        }

        var shared = Enumerable.Range(0, 6).Select(_ => Oci.RandomBytes(3000 + Random.Shared.Next(3000))).ToArray();
        var repositories = Enumerable.Range(0, 5).Select(i => $"{ns}/r{i}").ToArray();
        var far = TimeSpan.FromDays(3);

        using var done = new CancellationTokenSource();
        var collections = Task.Run(async () =>
        {
            var runs = 0;
            while (!done.IsCancellationRequested)
            {
                var report = await collector.CollectAsync(new GarbageCollectionRun($"gcq{runs}", false, DateTimeOffset.UtcNow, 1), DateTimeOffset.UtcNow + far, CancellationToken.None);
                Assert.Null(report.Error);
                runs++;
            }

            return runs;
        });

        // Each worker pushes shared and own blobs and images, deletes and unlinks some; a step the
        // collection undid under it (a staging file swept, links pruned before the manifest) is refused.
        await Task.WhenAll(Enumerable.Range(0, 12).Select(worker => Task.Run(async () =>
        {
            for (var round = 0; round < 8; round++)
            {
                var repository = repositories[(worker + round) % repositories.Length];
                var blob = round % 2 == 0 ? shared[(worker + round) % shared.Length] : Oci.RandomBytes(2000 + Random.Shared.Next(4000));
                using (var push = await client.PostAsync($"/v2/{repository}/blobs/uploads/?digest={Oci.Digest(blob)}", Oci.Octets(blob)))
                {
                    if (push.StatusCode != HttpStatusCode.Created)
                    {
                        Assert.Contains(push.StatusCode, new[] { HttpStatusCode.Forbidden, HttpStatusCode.TooManyRequests, HttpStatusCode.NotFound });
                        continue;
                    }
                }

                var manifest = Oci.ImageManifest(blob, [], annotations: new Dictionary<string, string> { ["w"] = $"{worker}-{round}" });
                using (var put = await client.PutManifestAsync(repository, round % 4 == 3 ? Oci.Digest(manifest) : $"w{worker}-{round}", manifest))
                {
                    // 500 only from the time shift: a collection 3 days ahead takes the manifest's
                    // staging file in tmp/, in use for milliseconds, for a crash's stray (never in real time).
                    Assert.Contains(put.StatusCode, new[] { HttpStatusCode.Created, HttpStatusCode.Forbidden, HttpStatusCode.BadRequest, HttpStatusCode.InternalServerError });
                }

                if (round % 3 == 1)
                {
                    using var deleted = await client.DeleteAsync($"/v2/{repository}/manifests/{Oci.Digest(manifest)}");
                    using var unlinked = await client.DeleteAsync($"/v2/{repository}/blobs/{Oci.Digest(blob)}");
                }
            }
        }))).WithinAsync();
        await done.CancelAsync();
        var runs = await collections.WithinAsync();
        Assert.True(runs > 0);

        await AssertRecountAsync(client, ns, limit);

        // A final collection prunes what is left untagged and unused: the usage still equals a recount.
        var final = await collector.CollectAsync(new GarbageCollectionRun("gcq-final", false, DateTimeOffset.UtcNow, 1), DateTimeOffset.UtcNow + far, CancellationToken.None);
        Assert.Null(final.Error);
        await AssertRecountAsync(client, ns, limit);
        await GarbageCollectionTests.AssertConsistentAsync(host);
    }

    private static string QuotaPath(string ns) => $"/apis/registry/v1/namespaces/{ns}/quota";

    private static async Task AssertRecountAsync(HttpClient client, string ns, long limit)
    {
        using var recount = await client.PostAsync(QuotaPath(ns) + "/recount", null);
        var body = await recount.JsonAsync(HttpStatusCode.OK);
        var tracked = body.GetProperty("tracked");
        var counted = body.GetProperty("counted");
        foreach (var figure in new[] { "storage", "repositories", "digests" })
        {
            Assert.True(
                counted.GetProperty(figure).GetInt64() == tracked.GetProperty(figure).GetInt64(),
                $"{figure}: tracked {tracked.GetProperty(figure).GetInt64()}, counted {counted.GetProperty(figure).GetInt64()}: {JsonSerializer.Serialize(body)}");
        }

        Assert.InRange(counted.GetProperty("storage").GetInt64(), 0, limit);
        Assert.InRange(counted.GetProperty("repositories").GetInt64(), 0, 4);
    }
}
