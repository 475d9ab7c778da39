namespace Registry.Tests;

/// <summary>Immutable tags with a real client: skopeo's copy of a second image onto a protected tag fails and says why.</summary>
[Trait("Category", TestCategories.Skopeo)]
public sealed class SkopeoImmutableTagTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("skopeo-immutable-").FullName;

    public void Dispose() => Skopeo.TryDelete(_work);

    [Fact]
    public async Task CopyingASecondImageOntoAnImmutableTagFailsWithTheRuleNamedAndLeavesTheTag()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = "s" + Guid.NewGuid().ToString("N")[..12];
        var name = $"{ns}/app";
        await ImmutableTagTests.PutRulesAsync(host.Client, ns, ImmutableTagTests.Rule("frozen-releases", "**", "v*"));

        var layout = OciLayout.Create(Path.Combine(_work, "src"));
        var first = layout.WriteImage(layers: 1, firstLayerBytes: 64 * 1024);
        var second = layout.WriteImage(layers: 1, firstLayerBytes: 64 * 1024);
        layout.Tag(first.Manifest, "first");
        layout.Tag(second.Manifest, "second");

        // The first copy creates the tag, a copy of the same image again is fine.
        await Skopeo.PushAsync($"oci:{layout.Root}:first", $"docker://{host.Authority}/{name}:v1", "--preserve-digests");
        await Skopeo.PushAsync($"oci:{layout.Root}:first", $"docker://{host.Authority}/{name}:v1", "--preserve-digests");

        var refused = await Skopeo.RunAsync("copy", "--dest-tls-verify=false", "--dest-no-creds", "--preserve-digests", $"oci:{layout.Root}:second", $"docker://{host.Authority}/{name}:v1");
        Assert.True(refused.ExitCode != 0, "skopeo copied onto an immutable tag: " + refused.Describe());
        Assert.True(refused.Stderr.Contains("frozen-releases", StringComparison.Ordinal), refused.Describe());
        Assert.Contains($"{name}:v1", refused.Stderr, StringComparison.Ordinal);

        Assert.Equal(first.Manifest.Digest, await ImmutableTagTests.TagDigestAsync(host.Client, name, "v1"));
    }
}
