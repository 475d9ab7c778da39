using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Azure.Storage.Blobs;
using Registry.Storage;
using Xunit.Abstractions;
using static Registry.Tests.GarbageCollectionTests;

namespace Registry.Tests;

/// <summary>
/// The race harness of online garbage collection against a 3-replica cluster on Azurite (Azure
/// driver, each replica its own process), with both pruning policies on: 125 rounds in 5 waves
/// (docs/garbage-collection.md, "Proofs"). Azure's Last-Modified cannot be set back, so blobs,
/// links and untagged manifests age in real time: the grace period is 5 s, and each wave begins
/// once what it prepared is older than that, so everything prepared is fair game for the wave's
/// collections while what the wave's clients touch is protected, as in real time with hours.
/// </summary>
[Trait("Category", TestCategories.Process)]
[Trait("Category", TestCategories.Azurite)]
public sealed class ClusterGarbageCollectionRaceTests(ITestOutputHelper output)
{
    private const string CollectionsPath = "/apis/registry/v1/garbagecollections";
    private const int Waves = 5;
    private const int RoundsPerWave = 25;
    private const int Kinds = 5;
    private const int MaxAttempts = 6;

    /// <summary>Far above a touch-to-link latency under load, far below a test's patience.</summary>
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(5);

    /// <summary>
    /// 125 rounds over replicas A, B and C: a client HEADs (through A) an old blob that only an
    /// unused link keeps and waits for a whole collection (triggered through B), or HEADs and
    /// unlinks it, or re-uploads or mounts (A) one while collections through B prune and sweep,
    /// and then pushes a manifest naming it through C: the manifest is stored with every blob
    /// present, or refused with MANIFEST_BLOB_UNKNOWN and the client uploads again. Beside them, pushes that move tags (leaving old manifests untagged for
    /// pruning), manifest deletes and collections through all three. Then a final collection and
    /// the consistency check of the embedded harness against the grains and the container.
    /// </summary>
    [Fact]
    public async Task RaceHarness125RoundsOnThreeReplicasWithPruningNeverStoresAManifestWhoseBlobIsGone()
    {
        var clock = Stopwatch.StartNew();
        var seconds = ((int)Grace.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        await using var cluster = await RegistryCluster.StartAsync(
            "gcrace",
            3,
            gateways: true,
            ("Registry__Uploads__Expiry", $"00:00:{seconds}"),
            ("Registry__GarbageCollection__GracePeriod", $"00:00:{seconds}"),
            ("Registry__GarbageCollection__Interval", "00:00:00"),
            ("Registry__GarbageCollection__RemoveUntagged", "true"),
            ("Registry__GarbageCollection__RemoveUnusedLinks", "true"),
            ("Logging__LogLevel__Registry.Grains.GarbageCollectionGrain", "Information"));
        var (a, b, c) = (cluster.Replicas[0].Client, cluster.Replicas[1].Client, cluster.Replicas[2].Client);
        output.WriteLine($"3 replicas serving after {clock.Elapsed.TotalSeconds:F1} s");
        var tally = new Tally();
        var latest = new Dictionary<(string Repository, string Tag), byte[]>();
        var deleted = new List<(string Repository, string Digest)>();
        try
        {
            for (var wave = 0; wave < Waves; wave++)
            {
                var rounds = Enumerable.Range(wave * RoundsPerWave, RoundsPerWave).Select(g => new Round(g)).ToArray();
                await Task.WhenAll(rounds.Select(round => Task.Run(() => PrepareAsync(a, b, round)))).WaitAsync(Bounded.Timeout);

                // Waiting for the grace period to pass is what ages them (Last-Modified and the
                // recorded uses are the clocks' own); 1 s more for Last-Modified's whole seconds.
                await Task.Delay(Grace + TimeSpan.FromSeconds(1));

                using var done = new CancellationTokenSource();
                var collecting = CollectWhileAsync(b, tally, done.Token);
                var clients = rounds.Select(round => Task.Run(() => RunAsync(a, b, c, round, tally))).ToArray();
                try
                {
                    await Task.WhenAll(clients).WaitAsync(Bounded.Timeout);
                }
                finally
                {
                    await done.CancelAsync();
                    await collecting.WaitAsync(Bounded.Timeout);
                }

                output.WriteLine($"wave {wave} done at {clock.Elapsed.TotalSeconds:F1} s: {tally}");
                foreach (var round in rounds)
                {
                    latest[(round.Repository, round.Tag)] = round.Stored!;
                    await AssertPullableAsync(b, round.Repository, round.Tag, round.Stored!);
                    if (round.Kind == 4)
                    {
                        deleted.Add((Round.Victims, round.VictimDigest!));
                    }
                }
            }

            // Everything the harness left is older than the grace period at the last collection.
            await Task.Delay(Grace + TimeSpan.FromSeconds(1));
            var final = await CollectAsync(b, dryRun: false);
            var status = final.GetProperty("status");
            Assert.Equal("Succeeded", status.GetProperty("phase").GetString());
            tally.Add(status);
            var replicas = new[] { a, b, c };
            var i = 0;
            foreach (var ((repository, tag), manifest) in latest)
            {
                await AssertPullableAsync(replicas[i++ % 3], repository, tag, manifest);
            }

            foreach (var (repository, digest) in deleted)
            {
                using var gone = await c.GetAsync($"/v2/{repository}/manifests/{digest}");
                Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
            }

            var (host, grains) = await cluster.ConnectClientAsync();
            using (host)
            {
                var store = new AzureBlobStore(new BlobServiceClient(cluster.Azurite.ConnectionString).GetBlobContainerClient(cluster.ClusterId));
                var (referenced, stored) = await GarbageCollectionConsistency.AssertAsync(grains, store, status.GetProperty("startedAt").GetDateTimeOffset() - Grace);
                output.WriteLine($"{Waves * RoundsPerWave} rounds in {clock.Elapsed.TotalSeconds:F1} s; {tally}; after the final collection {referenced} digests referenced, {stored} blobs stored");
                await host.StopAsync();
            }
        }
        catch (Exception) when (Dump(cluster, tally))
        {
            throw;
        }

        // The harness exercised what it claims: the collections pruned and swept while the clients
        // ran, and clients were refused and recovered.
        Assert.True(tally.Collections >= Waves, tally.ToString());
        Assert.True(tally.BlobsReclaimed > 0 && tally.LinksRemoved > 0 && tally.ManifestsRemoved > 0, tally.ToString());
        Assert.True(tally.Refused >= Waves * RoundsPerWave / Kinds, tally.ToString());
        Assert.DoesNotContain("failed; nothing referenced was deleted", cluster.Output(), StringComparison.Ordinal);
    }

    /// <summary>What a round finds stored before the wave, aged by the wait.</summary>
    private static async Task PrepareAsync(HttpClient a, HttpClient b, Round round)
    {
        switch (round.Kind)
        {
            case 0 or 1:
                // Linked in the repository the manifest goes to, by an upload no manifest names yet.
                await a.PushBlobAsync(round.Repository, round.Config);
                await a.PushBlobAsync(round.Repository, round.Layer);
                break;
            case 2:
                // Stored, and unreferenced: its only link is deleted.
                foreach (var blob in round.Blobs)
                {
                    await a.PushBlobAsync(round.Source, blob);
                    using var unlink = await b.DeleteAsync($"/v2/{round.Source}/blobs/{Oci.Digest(blob)}");
                    Assert.Equal(HttpStatusCode.Accepted, unlink.StatusCode);
                }

                break;
            case 3:
                // Linked in the repository the client mounts from.
                await a.PushBlobAsync(round.Source, round.Config);
                await a.PushBlobAsync(round.Source, round.Layer);
                break;
            default:
                // A tagged image the round deletes while its push and a collection run.
                var (digest, _) = await a.PushImageAsync(Round.Victims, $"d{round.Number}", layers: 1);
                round.VictimDigest = digest;
                break;
        }
    }

    private static async Task RunAsync(HttpClient a, HttpClient b, HttpClient c, Round round, Tally tally)
    {
        if (round.Kind != 0)
        {
            // Spread over the wave's first collection (it prunes and sweeps what the wave prepared
            // within about a second) rather than all at its start: load shaping, not
            // synchronisation; any interleaving is valid, and each is checked.
            await Task.Delay(Random.Shared.Next(0, 1000));
        }

        switch (round.Kind)
        {
            case 0:
                // HEAD saw the blobs (or saw them already pruned, and the client uploads them), then
                // a whole collection runs, then the manifest comes.
                foreach (var blob in round.Blobs)
                {
                    if (!await HeadAsync(a, round.Repository, blob))
                    {
                        tally.Count(ref tally.HeadsAfterPrune);
                        await UploadAsync(a, round.Repository, blob, tally);
                    }
                }

                await AfterACollectionAsync(b, DateTimeOffset.UtcNow);
                break;
            case 1:
                // HEAD saw the blobs; their links go (deleted through B) before the manifest comes.
                foreach (var blob in round.Blobs)
                {
                    await HeadAsync(a, round.Repository, blob);
                    using var unlink = await b.DeleteAsync($"/v2/{round.Repository}/blobs/{Oci.Digest(blob)}");
                    Assert.True(unlink.StatusCode is HttpStatusCode.Accepted or HttpStatusCode.NotFound, $"unlink answered {unlink.StatusCode}");
                }

                using (var refused = await c.PutManifestAsync(round.Repository, round.Tag, round.Manifest))
                {
                    await refused.AssertErrorAsync(HttpStatusCode.BadRequest, "MANIFEST_BLOB_UNKNOWN");
                    tally.Refuse();
                }

                foreach (var blob in round.Blobs)
                {
                    await UploadAsync(a, round.Repository, blob, tally);
                }

                break;
            case 2:
                // Uploaded again: the commit finds the old bytes stored (or just collected).
                foreach (var blob in round.Blobs)
                {
                    await UploadAsync(a, round.Repository, blob, tally);
                }

                break;
            case 3:
                foreach (var blob in round.Blobs)
                {
                    using var mount = await a.PostAsync($"/v2/{round.Repository}/blobs/uploads/?mount={Oci.Digest(blob)}&from={round.Source}", null);
                    Assert.True(mount.StatusCode is HttpStatusCode.Created or HttpStatusCode.Accepted, $"mount answered {mount.StatusCode}");
                    if (mount.StatusCode == HttpStatusCode.Accepted)
                    {
                        tally.Count(ref tally.MountsRefused);
                        await UploadAsync(a, round.Repository, blob, tally);
                    }
                }

                break;
            default:
                // A push of new blobs through C, a delete through B and a collection through A or C, at once.
                var delete = Task.Run(async () =>
                {
                    using var response = await b.DeleteAsync($"/v2/{Round.Victims}/manifests/{round.VictimDigest}");
                    Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
                });
                var collect = Task.Run(() => TryCollectAsync(round.Number % 2 == 0 ? a : c, tally));
                foreach (var blob in round.Blobs)
                {
                    await UploadAsync(c, round.Repository, blob, tally);
                }

                await Task.WhenAll(delete, collect);
                break;
        }

        round.Stored = await PutAsync(round.Kind == 4 ? a : c, a, round, tally);
    }

    /// <summary>The manifest's push, with the client's recovery from MANIFEST_BLOB_UNKNOWN: upload again, push again.</summary>
    private static async Task<byte[]> PutAsync(HttpClient put, HttpClient upload, Round round, Tally tally)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var response = await put.PutManifestAsync(round.Repository, round.Tag, round.Manifest);
            if (response.StatusCode == HttpStatusCode.Created)
            {
                return round.Manifest;
            }

            await response.AssertErrorAsync(HttpStatusCode.BadRequest, "MANIFEST_BLOB_UNKNOWN");
            tally.Refuse();
            if (attempt == 1 && round.Kind != 1)
            {
                tally.Count(ref tally.PushesRefusedAfterAHit);
            }

            Assert.True(attempt < MaxAttempts, $"round {round.Number} (kind {round.Kind}): the push kept being refused");
            foreach (var blob in round.Blobs)
            {
                await UploadAsync(upload, round.Repository, blob, tally);
            }
        }
    }

    private static async Task<bool> HeadAsync(HttpClient client, string repository, byte[] blob)
    {
        using var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/{repository}/blobs/{Oci.Digest(blob)}"));
        Assert.True(head.StatusCode is HttpStatusCode.OK or HttpStatusCode.NotFound, $"HEAD answered {head.StatusCode}");
        return head.StatusCode == HttpStatusCode.OK;
    }

    /// <summary>A one-request upload; a commit that finds the stored copy collected at that instant answers BLOB_UPLOAD_UNKNOWN, and the client uploads again.</summary>
    private static async Task UploadAsync(HttpClient client, string repository, byte[] blob, Tally tally)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var response = await client.PostAsync($"/v2/{repository}/blobs/uploads/?digest={Oci.Digest(blob)}", Oci.Octets(blob));
            if (response.StatusCode == HttpStatusCode.Created)
            {
                return;
            }

            await response.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
            tally.Count(ref tally.UploadsRefused);
            Assert.True(attempt < MaxAttempts, "the upload kept being refused");
        }
    }

    /// <summary>Collections through <paramref name="client"/>, one after another, until the wave's clients are done (at least one).</summary>
    private static async Task CollectWhileAsync(HttpClient client, Tally tally, CancellationToken done)
    {
        do
        {
            if (!await TryCollectAsync(client, tally))
            {
                // One started elsewhere runs: start the next once it finished, rather than asking again and again.
                await Poll.UntilAsync(async () => (await client.GetFromJsonAsync<JsonElement>(CollectionsPath + "/last")).GetProperty("status").GetProperty("phase").GetString() != "Running", "the running collection finished");
            }
        }
        while (!done.IsCancellationRequested);
    }

    /// <summary>Starts a collection; one already running (409, false) is fine, and what finished must have succeeded.</summary>
    private static async Task<bool> TryCollectAsync(HttpClient client, Tally tally)
    {
        using var response = await client.PostAsJsonAsync(CollectionsPath, new { apiVersion = "registry/v1", kind = "GarbageCollection" });
        if (response.StatusCode == HttpStatusCode.Conflict)
        {
            tally.Conflict();
            return false;
        }

        Assert.True(response.StatusCode is HttpStatusCode.Created or HttpStatusCode.Accepted, $"a collection answered {response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        var resource = await response.Content.ReadFromJsonAsync<JsonElement>();
        if (response.StatusCode == HttpStatusCode.Accepted)
        {
            // Still running after the endpoint's 20 s (a loaded machine): its figures come with
            // /last once it finished, unless the next one started first (then /last shows that one,
            // and a failure shows in the replicas' logs, checked at the end).
            tally.Slow();
            if (await FinishedAsync(client, resource.GetProperty("metadata").GetProperty("name").GetString()!) is not { } finished)
            {
                return true;
            }

            resource = finished;
        }

        var status = resource.GetProperty("status");
        Assert.True(status.GetProperty("phase").GetString() == "Succeeded", status.ToString());
        tally.Add(status);
        return true;
    }

    /// <summary>Returns once a collection that started after <paramref name="since"/> finished (the wave's collections run back to back).</summary>
    private static Task AfterACollectionAsync(HttpClient client, DateTimeOffset since)
        => Poll.UntilAsync(
            async () => (await client.GetFromJsonAsync<JsonElement>(CollectionsPath + "/last")).GetProperty("status") is var status
                && status.GetProperty("phase").GetString() != "Running" && status.GetProperty("startedAt").GetDateTimeOffset() > since,
            "a collection started after the HEAD finished");

    /// <summary>The collection <paramref name="name"/> once it finished; null when another one is running or finished since.</summary>
    private static async Task<JsonElement?> FinishedAsync(HttpClient client, string name)
    {
        JsonElement last = default;
        await Poll.UntilAsync(
            async () =>
            {
                last = await client.GetFromJsonAsync<JsonElement>(CollectionsPath + "/last");
                return last.GetProperty("metadata").GetProperty("name").GetString() != name || last.GetProperty("status").GetProperty("phase").GetString() != "Running";
            },
            $"collection {name} finished");
        return last.GetProperty("metadata").GetProperty("name").GetString() == name ? last : null;
    }

    private bool Dump(RegistryCluster cluster, Tally tally)
    {
        output.WriteLine(tally.ToString());
        output.WriteLine(cluster.Output());
        return false;
    }

    /// <summary>One round: what it names, and where.</summary>
    private sealed class Round
    {
        public const string Victims = "gcrace/victims";

        public Round(int number)
        {
            Number = number;
            Config = Encoding.UTF8.GetBytes($"{{\"round\":{number},\"n\":\"{Guid.NewGuid():N}\"}}");
            Layer = Oci.RandomBytes(200 + number);
            Manifest = Oci.ImageManifest(Config, [Layer]);
        }

        public int Number { get; }

        /// <summary>0 HEAD then a whole collection, 1 HEAD then unlink, 2 re-upload of an unreferenced blob, 3 mount, 4 push beside a delete and a collection.</summary>
        public int Kind => Number % Kinds;

        /// <summary>Three repositories, ten tags: a tag moves every 30 rounds, leaving its old manifest untagged.</summary>
        public string Repository => $"gcrace/app{Number % 3}";

        public string Tag => $"t{Number % 10}";

        public string Source => $"gcrace/src{Number % 4}";

        public byte[] Config { get; }

        public byte[] Layer { get; }

        public byte[][] Blobs => [Config, Layer];

        public byte[] Manifest { get; }

        public string? VictimDigest { get; set; }

        public byte[]? Stored { get; set; }
    }

    private sealed class Tally
    {
        /// <summary>How often each race was lost by the client (and recovered from).</summary>
        public int HeadsAfterPrune;
        public int MountsRefused;
        public int UploadsRefused;
        public int PushesRefusedAfterAHit;

        private readonly object _lock = new();

        public int Collections { get; private set; }

        public int Conflicts { get; private set; }

        public int Refused { get; private set; }

        public long BlobsReclaimed { get; private set; }

        public long LinksRemoved { get; private set; }

        public long ManifestsRemoved { get; private set; }

        public double LongestCollection { get; private set; }

        public void Add(JsonElement status)
        {
            lock (_lock)
            {
                Collections++;
                BlobsReclaimed += status.GetProperty("blobsReclaimed").GetInt64();
                LinksRemoved += status.GetProperty("linksRemoved").GetInt64();
                ManifestsRemoved += status.GetProperty("manifestsRemoved").GetInt64();
                LongestCollection = Math.Max(LongestCollection, status.GetProperty("durationSeconds").GetDouble());
            }
        }

        public void Conflict()
        {
            lock (_lock)
            {
                Conflicts++;
            }
        }

        public int SlowCollections { get; private set; }

        public void Slow()
        {
            lock (_lock)
            {
                SlowCollections++;
            }
        }

        public void Count(ref int counter) => Interlocked.Increment(ref counter);

        public void Refuse()
        {
            lock (_lock)
            {
                Refused++;
            }
        }

        public override string ToString()
        {
            lock (_lock)
            {
                return $"{Collections} collections (longest {LongestCollection:F2} s, {SlowCollections} over 20 s, {Conflicts} refused as one ran), {BlobsReclaimed} blobs reclaimed, {LinksRemoved} links and {ManifestsRemoved} manifests pruned, {Refused} manifest pushes refused with MANIFEST_BLOB_UNKNOWN ({PushesRefusedAfterAHit} after a HEAD, upload or mount that found the blob), {HeadsAfterPrune} HEADs after the link was pruned, {MountsRefused} mounts and {UploadsRefused} upload commits refused as the blob was collected";
            }
        }
    }
}
