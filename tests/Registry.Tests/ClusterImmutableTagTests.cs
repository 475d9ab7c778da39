using System.Diagnostics;
using System.Net;
using Xunit.Abstractions;

namespace Registry.Tests;

/// <summary>
/// Three replicas (cluster mode, separate processes on Azurite): immutable tag rules written
/// through one replica are enforced by the others, which pushed before without rules.
/// </summary>
[Trait("Category", TestCategories.Process)]
[Trait("Category", TestCategories.Azurite)]
public sealed class ClusterImmutableTagTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ARuleWrittenThroughOneReplicaIsEnforcedByTheOthers()
    {
        await using var cluster = await RegistryCluster.StartAsync(
            "immutable",
            3,
            ("Registry__Access__Enabled", "true"),
            ("Registry__Access__AdminPassword", AccessRegistry.AdminPassword));
        var clients = cluster.Replicas.Select(r =>
        {
            var client = new HttpClient { BaseAddress = r.BaseAddress, Timeout = TimeSpan.FromMinutes(1) };
            client.DefaultRequestHeaders.Authorization = PolicyRegistry.Admin;
            return client;
        }).ToArray();
        try
        {
            var ns = PolicyRegistry.NewNamespace();
            var name = $"{ns}/app";
            await PolicyRegistry.CreateNamespaceAsync(clients[0], ns);
            await clients[0].PushImageAsync(name, "v1", layers: 1);
            var images = new List<byte[]>();
            for (var i = 0; i < 2; i++)
            {
                images.Add((await ImmutableTagTests.PushUntaggedAsync(clients[1], name)).Manifest);
            }

            // Without rules, the others move the tag freely (and know that no scope has rules).
            foreach (var client in clients.Skip(1))
            {
                using var moved = await client.PutManifestAsync(name, "v1", images[0]);
                Assert.Equal(HttpStatusCode.Created, moved.StatusCode);
            }

            await ImmutableTagTests.PutRulesAsync(clients[0], ns, ImmutableTagTests.Rule("frozen", "**", "v*"));
            var written = Stopwatch.StartNew();

            // Each other replica moves the tag to and fro until it refuses: a refusal leaves the tag where the last move put it.
            foreach (var (client, index) in clients.Select((c, i) => (c, i)).Skip(1))
            {
                var current = Oci.Digest(images[0]);
                for (var attempt = 0; ; attempt++)
                {
                    Assert.True(written.Elapsed < TimeSpan.FromSeconds(10), $"replica {index} still moves the tag\n{cluster.Output()}");
                    var target = images[(attempt + 1) % 2];
                    using var response = await client.PutManifestAsync(name, "v1", target);
                    if (response.StatusCode == HttpStatusCode.Created)
                    {
                        current = Oci.Digest(target);
                        continue;
                    }

                    await ImmutableTagTests.AssertImmutableAsync(response, "frozen", $"{name}:v1");
                    break;
                }

                output.WriteLine($"replica {index} refused {written.Elapsed.TotalMilliseconds:F0} ms after the rule was written");
                Assert.Equal(current, await ImmutableTagTests.TagDigestAsync(client, name, "v1"));
                using var delete = await client.DeleteAsync($"/v2/{name}/manifests/v1");
                await ImmutableTagTests.AssertImmutableAsync(delete, "frozen", $"{name}:v1");
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }
}
