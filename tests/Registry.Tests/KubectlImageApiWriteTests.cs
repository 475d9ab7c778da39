namespace Registry.Tests;

/// <summary>
/// kubectl changing the image API with <c>--server</c>: an ImageStreamTag created from a file
/// (tag.from another tag), a tag and a whole stream deleted; what /v2 serves afterwards.
/// </summary>
[Trait("Category", TestCategories.Kubectl)]
public sealed class KubectlImageApiWriteTests : IDisposable
{
    private readonly TempDirectory _work = new("kubectl-image-writes-");

    public void Dispose() => _work.Dispose();

    [Fact]
    public async Task KubectlCreatesATagFromAFileAndDeletesATagAndAStream()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var v1 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "kubectl-write-1");
        await ImageApi.PushAsync(host.Client, $"{ns}/app", "v2", "kubectl-write-2");
        var file = System.IO.Path.Combine(_work.Path, "istag.yaml");
        await File.WriteAllTextAsync(file, $"""
            apiVersion: image.openshift.io/v1
            kind: ImageStreamTag
            metadata:
              name: app:prod
            tag:
              name: prod
              from:
                kind: ImageStreamTag
                name: app:v1
                namespace: {ns}
            """);
        using var kubectl = new Kubectl(host.BaseAddress);

        var created = await kubectl.OkAsync("create", "-f", file, "-n", ns);
        Assert.Contains("imagestreamtag.image.openshift.io/app:prod created", created, StringComparison.Ordinal);
        Assert.Equal(v1, (await host.Client.GetManifestAsync($"{ns}/app", "prod")).Digest);

        var again = await kubectl.RunAsync("create", "-f", file, "-n", ns);
        Assert.NotEqual(0, again.ExitCode);
        Assert.Contains("(AlreadyExists)", again.Stderr, StringComparison.Ordinal);

        var deletedTag = await kubectl.OkAsync("delete", "istag", "app:v1", "-n", ns);
        Assert.Contains("imagestreamtag.image.openshift.io \"app:v1\" deleted", deletedTag, StringComparison.Ordinal);
        Assert.Equal(["prod", "v2"], (await host.Client.ListTagsAsync($"{ns}/app")).Order(StringComparer.Ordinal));

        var deletedStream = await kubectl.OkAsync("delete", "is", "app", "-n", ns);
        Assert.Contains("imagestream.image.openshift.io \"app\" deleted", deletedStream, StringComparison.Ordinal);
        var gone = await kubectl.RunAsync("get", "is", "app", "-n", ns);
        Assert.NotEqual(0, gone.ExitCode);
        Assert.Contains("(NotFound)", gone.Stderr, StringComparison.Ordinal);
        using var manifest = await host.Client.GetAsync($"/v2/{ns}/app/manifests/{v1}");
        Assert.Equal(System.Net.HttpStatusCode.NotFound, manifest.StatusCode);
    }
}
