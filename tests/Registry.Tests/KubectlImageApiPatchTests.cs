namespace Registry.Tests;

/// <summary>kubectl patch of an ImageStreamTag with <c>--server</c>: a merge patch of <c>tag.from</c> moves the tag.</summary>
[Trait("Category", TestCategories.Kubectl)]
public sealed class KubectlImageApiPatchTests
{
    [Fact]
    public async Task KubectlMergePatchOfTagFromMovesTheTag()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "kubectl-patch-1");
        var v2 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v2", "kubectl-patch-2");
        using var kubectl = new Kubectl(host.BaseAddress);

        var patched = await kubectl.OkAsync("patch", "istag", "app:v1", "-n", ns, "--type=merge", "-p", ImageApiMapping.FromPatch("ImageStreamImage", $"app@{v2}"));
        Assert.Contains("imagestreamtag.image.openshift.io/app:v1 patched", patched, StringComparison.Ordinal);
        Assert.Equal(v2, (await host.Client.GetManifestAsync($"{ns}/app", "v1")).Digest);

        var missing = await kubectl.RunAsync("patch", "istag", "app:missing", "-n", ns, "--type=merge", "-p", ImageApiMapping.FromPatch("ImageStreamImage", $"app@{v2}"));
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("(NotFound)", missing.Stderr, StringComparison.Ordinal);
    }
}
