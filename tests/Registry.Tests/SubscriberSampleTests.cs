namespace Registry.Tests;

/// <summary>
/// The sample host (<c>samples/SubscriberHost</c>): a program of its own that references the
/// registry library, adds a subscriber and runs the full registry.
/// </summary>
[Trait("Category", TestCategories.Process)]
public sealed class SubscriberSampleTests
{
    [Fact]
    public async Task TheSampleHostsSubscriberSeesAnImagePushedToIt()
    {
        using var data = new TempDirectory();
        var pushLog = Path.Combine(data.Path, "pushes.log");
        await using var sample = await EmbeddedProcess.StartHostAsync("Registry.Samples.SubscriberHost.dll", data.Path, ("Sample__PushLog", pushLog), ("Logging__LogLevel__Registry.Samples", "Information"));
        var name = SharedRegistry.UniqueName("sample");

        var (digest, _) = await sample.Client.PushImageAsync(name, "v1", layers: 1);
        await Poll.UntilAsync(() => Task.FromResult(File.Exists(pushLog) && File.ReadAllText(pushLog).Contains($" {name}:v1 {digest} ", StringComparison.Ordinal)), "the sample's subscriber logged the push");

        // One line for the tagged manifest; the blobs' and untagged events are not its business.
        var (other, _) = await sample.Client.PushImageAsync(name, "v2", layers: 2);
        await Poll.UntilAsync(() => Task.FromResult(File.ReadAllText(pushLog).Contains($" {name}:v2 {other} ", StringComparison.Ordinal)), "the sample's subscriber logged the second push");
        var lines = File.ReadAllLines(pushLog);
        Assert.Equal(2, lines.Length);
        Assert.Equal(2, lines.Select(l => l.Split(' ')[^1]).Distinct().Count());
        Assert.Contains("Pushed " + name + ":v1", sample.Output, StringComparison.Ordinal);
    }
}
