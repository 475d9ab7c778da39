using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Xunit.Abstractions;

namespace Registry.Tests;

/// <summary>
/// What the kill tests do around the collection they kill: start it on a process that may die while
/// answering, kill the process once the sweep is under way, and read the resumed collection's end.
/// </summary>
internal static class GarbageCollectionKill
{
    /// <summary>Starts a collection through <paramref name="client"/>; the task ends when it answers or its process is killed.</summary>
    public static Task StartCollection(HttpClient client) => Task.Run(async () =>
    {
        try
        {
            using var response = await client.PostAsJsonAsync("/apis/registry/v1/garbagecollections", new { kind = "GarbageCollection" });
        }
        catch (HttpRequestException)
        {
            // Killed while answering.
        }
    });

    /// <summary>
    /// Kills <paramref name="process"/> with <c>kill -9</c> once its log shows <paramref name="deletions"/>
    /// blob deletions (or it has exited); the deletions logged by then.
    /// </summary>
    public static async Task<int> KillMidSweepAsync(RegistryProcess process, int deletions, ITestOutputHelper output)
    {
        try
        {
            await Poll.UntilAsync(() => Task.FromResult(Deleted(process.Output) >= deletions || process.HasExited), "the sweep is under way");
        }
        catch (Exception)
        {
            output.WriteLine(process.Output);
            throw;
        }

        process.KillHard();
        return Deleted(process.Output);
    }

    /// <summary>The status of the last collection, once it is no longer running.</summary>
    public static async Task<JsonElement> FinishedStatusAsync(HttpClient client)
    {
        JsonElement status = default;
        await Poll.UntilAsync(
            async () =>
            {
                using var last = await client.GetAsync("/apis/registry/v1/garbagecollections/last");
                if (last.StatusCode != HttpStatusCode.OK)
                {
                    return false;
                }

                status = (await last.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status");
                return status.GetProperty("phase").GetString() != "Running";
            },
            "the interrupted collection is resumed and finishes");
        return status;
    }

    /// <summary>How many blob deletions the collector logged in <paramref name="log"/>.</summary>
    public static int Deleted(string log)
    {
        var count = 0;
        for (var at = log.IndexOf(" deleted blob ", StringComparison.Ordinal); at >= 0; at = log.IndexOf(" deleted blob ", at + 1, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
