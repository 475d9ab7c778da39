using System.Net;
using System.Text.Json;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>
/// Scheduled retention runs (docs/retention.md "Schedule"): a policy with <c>spec.schedule</c>
/// applies by itself once per interval, records its last run in its status, and keeps its
/// schedule across a restart; a bad schedule is 422 with nothing stored. The hosts check for due
/// policies every 100 ms and allow 1 s intervals; tests wait on what a run changes, never on time.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class RetentionScheduleTests
{
    private static readonly string[] Fast =
    [
        "--Registry:Retention:ScheduleCheckInterval=00:00:00.100",
        "--Registry:Retention:MinimumScheduleInterval=00:00:01",
    ];

    private static readonly Lazy<Task<RegistryHost>> Shared = new(() => RegistryHost.StartAsync(null, Fast));

    private static string NewNamespace() => "s" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async Task ADuePolicyRunsWithoutAnOnDemandCallAndRecordsItsRunInItsStatus()
    {
        var host = await Shared.Value;
        var client = host.Client;
        var ns = NewNamespace();
        var name = $"{ns}/app";
        foreach (var tag in new[] { "t1", "t2", "t3" })
        {
            await client.PushImageAsync(name, tag);
        }

        var stored = await RetentionTests.PutPolicyAsync(client, ns, "nightly", new { keepLastPushed = 1, untagged = "delete", keepYoungerThan = "0s", schedule = new { interval = "1s" } });
        Assert.Equal("1s", stored.GetProperty("spec").GetProperty("schedule").GetProperty("interval").GetString());

        // No run is asked for: the schedule applies the policy.
        await Poll.UntilAsync(async () => (await TagsAsync(client, name)).SequenceEqual(["t3"]), "the scheduled run kept only the last pushed tag");
        JsonElement status = default;
        await Poll.UntilAsync(
            async () => (await GetPolicyAsync(client, ns, "nightly")).TryGetProperty("status", out status) && status.TryGetProperty("lastScheduledRun", out _),
            "the policy's status records the run");
        var last = status.GetProperty("lastScheduledRun");
        Assert.Equal(2, last.GetProperty("tagsDeleted").GetInt32());
        Assert.Equal(2, last.GetProperty("manifestsDeleted").GetInt32());
        Assert.Equal(1, last.GetProperty("repositoriesChanged").GetInt32());
        Assert.False(last.TryGetProperty("error", out _));
        Assert.True(status.TryGetProperty("nextScheduledRunAt", out _));

        // Once per interval, again and again: a tag pushed later goes at a later run.
        await client.PushImageAsync(name, "t4");
        await Poll.UntilAsync(async () => (await TagsAsync(client, name)).SequenceEqual(["t4"]), "a later scheduled run kept only the newer tag");

        // Unscheduled, it runs no more.
        await RetentionTests.PutPolicyAsync(client, ns, "nightly", new { keepLastPushed = 1, untagged = "delete", keepYoungerThan = "0s" });
        Assert.Empty(await host.Service<IGrainFactory>().GetGrain<IRetentionScheduleGrain>(0).List(ns));
        Assert.False((await GetPolicyAsync(client, ns, "nightly")).GetProperty("spec").TryGetProperty("schedule", out _));
    }

    [Theory]
    [InlineData("""{"interval":"abc"}""")]
    [InlineData("""{"interval":"0s"}""")]
    [InlineData("""{"interval":"500ms"}""")]
    [InlineData("""{"interval":""}""")]
    [InlineData("""{}""")]
    [InlineData("""{"interval":"99999999999999999999h"}""")]
    public async Task ABadScheduleIsInvalidAndNothingIsStored(string schedule)
    {
        var host = await Shared.Value;
        var ns = NewNamespace();
        var body = """{"apiVersion":"registry/v1","kind":"RetentionPolicy","spec":{"keepLastPushed":1,"schedule":""" + schedule + "}}";
        using (var put = await PolicyRegistry.ApiAsync(host.Client, HttpMethod.Put, $"/namespaces/{ns}/retentionpolicies/bad", body))
        {
            var status = await put.JsonAsync(HttpStatusCode.UnprocessableEntity);
            Assert.Equal("Status", status.GetProperty("kind").GetString());
            Assert.Equal("Invalid", status.GetProperty("reason").GetString());
            Assert.Contains("spec.schedule.interval", status.GetProperty("message").GetString(), StringComparison.Ordinal);
        }

        using (var get = await PolicyRegistry.ApiAsync(host.Client, HttpMethod.Get, $"/namespaces/{ns}/retentionpolicies/bad"))
        {
            Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        }

        Assert.Empty(await host.Service<IGrainFactory>().GetGrain<IRetentionScheduleGrain>(0).List(ns));
    }

    [Fact]
    public async Task AnIntervalBelowTheConfiguredMinimumIsInvalid()
    {
        // The default minimum is 5 minutes.
        await using var host = await RegistryHost.StartAsync();
        var body = new { apiVersion = "registry/v1", kind = "RetentionPolicy", spec = new { keepLastPushed = 1, schedule = new { interval = "4m" } } };
        using var put = await PolicyRegistry.ApiAsync(host.Client, HttpMethod.Put, $"/namespaces/{NewNamespace()}/retentionpolicies/often", body);
        var status = await put.JsonAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Contains("at least 5m", status.GetProperty("message").GetString(), StringComparison.Ordinal);
        await RetentionTests.PutPolicyAsync(host.Client, NewNamespace(), "daily", new { keepLastPushed = 1, schedule = new { interval = "24h" } });
    }

    [Fact]
    public async Task AScheduleSurvivesARestart()
    {
        var data = Directory.CreateTempSubdirectory("registry-schedule-").FullName;
        var ns = NewNamespace();
        var name = $"{ns}/app";
        try
        {
            // Scheduled with tag retention on a repository that has nothing to delete yet.
            var first = await RegistryHost.StartAsync(data, Fast);
            await first.Client.PushImageAsync(name, "old");
            await RetentionTests.PutPolicyAsync(first.Client, ns, "keep-one", new { keepLastPushed = 1, keepYoungerThan = "0s", schedule = new { interval = "1s" } });
            await first.StopAsync();

            await using var second = await RegistryHost.StartAsync(data, Fast);
            Assert.Single(await second.Service<IGrainFactory>().GetGrain<IRetentionScheduleGrain>(0).List(ns));
            await second.Client.PushImageAsync(name, "new");
            await Poll.UntilAsync(async () => (await TagsAsync(second.Client, name)).SequenceEqual(["new"]), "the schedule stored before the restart applied the policy after it");
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    private static async Task<JsonElement> GetPolicyAsync(HttpClient client, string ns, string name)
    {
        using var response = await PolicyRegistry.ApiAsync(client, HttpMethod.Get, $"/namespaces/{ns}/retentionpolicies/{name}");
        return await response.JsonAsync(HttpStatusCode.OK);
    }

    private static async Task<string[]> TagsAsync(HttpClient client, string repository)
    {
        using var response = await client.GetAsync($"/v2/{repository}/tags/list");
        var body = await response.JsonAsync(HttpStatusCode.OK);
        return body.TryGetProperty("tags", out var tags) && tags.ValueKind == JsonValueKind.Array ? [.. tags.EnumerateArray().Select(t => t.GetString()!).Order(StringComparer.Ordinal)] : [];
    }
}
