using System.Net;
using System.Text;
using System.Text.Json;

namespace Registry.Tests;

/// <summary>
/// A namespace quota across two replicas: pushes through both are admitted by the one usage
/// grain of the namespace, so together they never pass the limit, and the usage equals a recount.
/// </summary>
[Trait("Category", TestCategories.Process)]
[Trait("Category", TestCategories.Azurite)]
public sealed class ClusterQuotaTests
{
    [Fact]
    public async Task PushesThroughTwoReplicasShareOneQuota()
    {
        await using var azurite = await Azurite.StartAsync();
        var cluster = "c" + Guid.NewGuid().ToString("N")[..12];
        await using var a = await RegistryProcess.StartAsync(azurite.ConnectionString, cluster);
        await using var b = await RegistryProcess.StartAsync(azurite.ConnectionString, cluster);
        var ns = QuotaTests.NewNamespace();
        const long limit = 20_000;
        using (var put = await a.Client.PutAsync($"/apis/registry/v1/namespaces/{ns}/quota", new StringContent("{\"spec\":{\"hard\":{\"storage\":" + limit + "}}}", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        // 16 blobs of 2,000 bytes, half through each replica: at most 10 fit.
        var statuses = await Task.WhenAll(Enumerable.Range(0, 16).Select(async i =>
        {
            var client = i % 2 == 0 ? a.Client : b.Client;
            var blob = Oci.RandomBytes(2000);
            using var response = await client.PostAsync($"/v2/{ns}/r{i % 3}/blobs/uploads/?digest={Oci.Digest(blob)}", Oci.Octets(blob));
            return response.StatusCode;
        }));

        Assert.Equal(10, statuses.Count(s => s == HttpStatusCode.Created));
        Assert.Equal(6, statuses.Count(s => s == HttpStatusCode.Forbidden));
        using var recount = await b.Client.PostAsync($"/apis/registry/v1/namespaces/{ns}/quota/recount", null);
        Assert.Equal(HttpStatusCode.OK, recount.StatusCode);
        using var body = JsonDocument.Parse(await recount.Content.ReadAsStringAsync());
        Assert.Equal(limit, body.RootElement.GetProperty("tracked").GetProperty("storage").GetInt64());
        Assert.Equal(limit, body.RootElement.GetProperty("counted").GetProperty("storage").GetInt64());
    }
}
