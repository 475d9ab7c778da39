using System.Globalization;
using System.Net;
using System.Text;

namespace Registry.Tests;

/// <summary>The usage gauges per namespace (docs/quotas.md), on a host of their own like every metrics test.</summary>
[Trait("Category", TestCategories.Fast)]
[Collection(nameof(MetricsCollection))]
public sealed class QuotaMetricsTests
{
    [Fact]
    public async Task UsageIsExportedPerNamespaceAndFollowsDeletes()
    {
        await using var host = await RegistryHost.StartAsync();
        var ns = QuotaTests.NewNamespace();
        var layer = Oci.RandomBytes(7000);
        var digest = await host.Client.PushBlobAsync($"{ns}/app", layer);
        await host.Client.PushBlobAsync($"{ns}/other", Oci.RandomBytes(300));
        using (var quota = await host.Client.GetAsync($"/apis/registry/v1/namespaces/{ns}/quota"))
        {
            Assert.Equal(HttpStatusCode.OK, quota.StatusCode);
        }

        var label = $"namespace=\"{ns}\"";
        await ScrapeUntilAsync(host, text => Value(text, "registry_quota_used_bytes", label) == 7300 && Value(text, "registry_quota_repositories", label) == 2);

        using (var deleted = await host.Client.DeleteAsync($"/v2/{ns}/app/blobs/{digest}"))
        {
            Assert.Equal(HttpStatusCode.Accepted, deleted.StatusCode);
        }

        await ScrapeUntilAsync(host, text => Value(text, "registry_quota_used_bytes", label) == 300 && Value(text, "registry_quota_repositories", label) == 1);
    }

    /// <summary>Scrapes until <paramref name="condition"/> holds (the endpoint caches a scrape for 300 ms).</summary>
    private static async Task ScrapeUntilAsync(RegistryHost host, Func<string, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var text = await host.Client.GetStringAsync("/metrics");
            if (condition(text))
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, "metrics never met the condition:\n" + Excerpt(text));
            await Task.Delay(100);
        }
    }

    private static string Excerpt(string text)
        => new StringBuilder().AppendJoin('\n', text.Split('\n').Where(l => l.Contains("quota", StringComparison.Ordinal))).ToString();

    /// <summary>The value of the sample of <paramref name="name"/> whose labels hold <paramref name="label"/>, or NaN.</summary>
    private static double Value(string text, string name, string label)
    {
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(name + "{", StringComparison.Ordinal) && line.Contains(label, StringComparison.Ordinal))
            {
                return double.Parse(line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            }
        }

        return double.NaN;
    }
}
