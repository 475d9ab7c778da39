using System.Net;
using System.Text;
using Registry.Grains;
using static Registry.Tests.GarbageCollectionTests;

namespace Registry.Tests;

/// <summary>The race harness of online garbage collection (docs/garbage-collection.md), embedded mode: about a minute.</summary>
[Trait("Category", TestCategories.Slow)]
public sealed class GarbageCollectionRaceTests
{
    /// <summary>
    /// Hundreds of rounds of a client reusing an old, unreferenced blob (re-upload, mount from
    /// storage, or HEAD of a link being deleted) while a collection runs, then pushing a manifest
    /// naming it: the manifest is either stored with every blob present or refused with
    /// MANIFEST_BLOB_UNKNOWN. Then a full consistency check.
    /// </summary>
    [Fact]
    public async Task RaceHarnessNeverStoresAManifestWhoseBlobIsGone()
    {
        await using var host = await RegistryHost.StartAsync();
        var client = host.Client;
        var collector = host.Service<IGarbageCollector>();
        var acknowledged = new List<(string Repository, string Tag, byte[] Manifest)>();
        var refused = 0;
        const int rounds = 300;
        for (var round = 0; round < rounds; round++)
        {
            var mode = round % 3;
            var source = $"gc/race-src{round % 5}";
            var target = $"gc/race{round % 7}";
            var tag = $"r{round}";
            var config = Encoding.UTF8.GetBytes($"{{\"round\":{round},\"n\":\"{Guid.NewGuid():N}\"}}");
            var layer = Oci.RandomBytes(256 + round);
            var blobs = new[] { config, layer };
            foreach (var blob in blobs)
            {
                await client.PushBlobAsync(source, blob);
                if (mode != 2)
                {
                    using var unlink = await client.DeleteAsync($"/v2/{source}/blobs/{Oci.Digest(blob)}");
                    Assert.Equal(HttpStatusCode.Accepted, unlink.StatusCode);
                }

                Age(host, Oci.Digest(blob));
            }

            var repository = mode == 2 ? source : target;
            var collection = Task.Run(() => collector.CollectAsync(new GarbageCollectionRun($"race{round}", false, DateTimeOffset.UtcNow, 1), DateTimeOffset.UtcNow, CancellationToken.None));
            var client2 = Task.Run(async () =>
            {
                foreach (var blob in blobs)
                {
                    var digest = Oci.Digest(blob);
                    if (mode == 0)
                    {
                        await ReuploadAsync(client, repository, blob);
                    }
                    else if (mode == 1)
                    {
                        using var mount = await client.PostAsync($"/v2/{repository}/blobs/uploads/?mount={digest}", null);
                        if (mount.StatusCode != HttpStatusCode.Created)
                        {
                            await ReuploadAsync(client, repository, blob);
                        }
                    }
                    else
                    {
                        // HEAD saw the blob; its link goes while the collector runs.
                        using var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/{repository}/blobs/{digest}"));
                        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
                        using var unlink = await client.DeleteAsync($"/v2/{repository}/blobs/{digest}");
                        Assert.Equal(HttpStatusCode.Accepted, unlink.StatusCode);
                    }
                }

                var manifest = Oci.ImageManifest(config, [layer]);
                using var put = await client.PutManifestAsync(repository, tag, manifest);
                if (put.StatusCode == HttpStatusCode.Created)
                {
                    return manifest;
                }

                Assert.Equal(2, mode);
                await put.AssertErrorAsync(HttpStatusCode.BadRequest, "MANIFEST_BLOB_UNKNOWN");
                return null;
            });
            await Task.WhenAll(collection, client2).WithinAsync();
            if (await client2 is { } stored)
            {
                acknowledged.Add((repository, tag, stored));
                await AssertPullableAsync(client, repository, tag, stored);
            }
            else
            {
                refused++;
            }
        }

        Assert.True(acknowledged.Count >= rounds * 2 / 3, $"{acknowledged.Count} of {rounds} rounds stored their manifest");

        var final = await CollectAsync(client, dryRun: false);
        Assert.Equal("Succeeded", final.GetProperty("status").GetProperty("phase").GetString());
        foreach (var (repository, tag, manifest) in acknowledged)
        {
            await AssertPullableAsync(client, repository, tag, manifest);
        }

        await AssertConsistentAsync(host);
        Assert.True(refused <= rounds / 3);
    }

    private static async Task ReuploadAsync(HttpClient client, string repository, byte[] blob)
    {
        // A commit that finds its stored copy collected at that instant answers BLOB_UPLOAD_UNKNOWN: the client uploads again.
        for (var attempt = 0; ; attempt++)
        {
            using var response = await client.PostAsync($"/v2/{repository}/blobs/uploads/?digest={Oci.Digest(blob)}", Oci.Octets(blob));
            if (response.StatusCode == HttpStatusCode.Created)
            {
                return;
            }

            Assert.True(attempt < 3, $"upload answered {response.StatusCode}");
        }
    }
}
