using System.Text.Json;

namespace Registry.Tests;

/// <summary>
/// kubectl writing ImageStreams with <c>--server</c> and kubectl's own validation (no
/// <c>--validate=false</c>): <c>apply -f</c> twice (create, then a strategic merge patch with the
/// last-applied annotation) moving a spec tag, <c>create -f</c>, <c>patch</c> of each type and <c>replace</c>.
/// </summary>
[Trait("Category", TestCategories.Kubectl)]
public sealed class KubectlImageApiSpecTests : IDisposable
{
    private readonly TempDirectory _work = new("kubectl-image-spec-");

    public void Dispose() => _work.Dispose();

    private string Stream(string file, string name, string latestFrom)
    {
        var path = System.IO.Path.Combine(_work.Path, file);
        File.WriteAllText(path, $"""
            apiVersion: image.openshift.io/v1
            kind: ImageStream
            metadata:
              name: {name}
              labels:
                team: web
            spec:
              tags:
              - name: latest
                from:
                  kind: ImageStreamTag
                  name: {latestFrom}
              - name: pinned
                from:
                  kind: ImageStreamTag
                  name: app:v1
            """);
        return path;
    }

    [Fact]
    public async Task KubectlAppliesAStreamTwiceAndTheSecondApplyMovesTheSpecTag()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var v1 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "apply-1");
        var v2 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v2", "apply-2");
        using var kubectl = new Kubectl(host.BaseAddress);

        // The stream exists already (pushed): the first apply patches it, recording its configuration.
        var first = await kubectl.OkAsync("apply", "-f", Stream("first.yaml", "app", "app:v1"), "-n", ns);
        Assert.Contains("imagestream.image.openshift.io/app", first, StringComparison.Ordinal);
        Assert.Equal(v1, (await host.Client.GetManifestAsync($"{ns}/app", "latest")).Digest);

        var second = await kubectl.OkAsync("apply", "-f", Stream("second.yaml", "app", "app:v2"), "-n", ns);
        Assert.Contains("imagestream.image.openshift.io/app configured", second, StringComparison.Ordinal);
        Assert.Equal(v2, (await host.Client.GetManifestAsync($"{ns}/app", "latest")).Digest);
        Assert.Equal(v1, (await host.Client.GetManifestAsync($"{ns}/app", "pinned")).Digest);

        using var read = JsonDocument.Parse(await kubectl.OkAsync("get", "is", "app", "-n", ns, "-o", "json"));
        var meta = read.RootElement.GetProperty("metadata");
        Assert.Contains("app:v2", meta.GetProperty("annotations").GetProperty("kubectl.kubernetes.io/last-applied-configuration").GetString(), StringComparison.Ordinal);
        Assert.Equal("web", meta.GetProperty("labels").GetProperty("team").GetString());
        Assert.Equal(["latest", "pinned"], read.RootElement.GetProperty("spec").GetProperty("tags").EnumerateArray().Select(t => t.GetProperty("name").GetString()));

        // The same file again changes nothing.
        var unchanged = await kubectl.OkAsync("apply", "-f", Stream("second.yaml", "app", "app:v2"), "-n", ns);
        Assert.Contains("unchanged", unchanged, StringComparison.Ordinal);

        // A new stream: apply creates it.
        var created = await kubectl.OkAsync("apply", "-f", Stream("web.yaml", "web", "app:v1"), "-n", ns);
        Assert.Contains("imagestream.image.openshift.io/web created", created, StringComparison.Ordinal);
        Assert.Equal(v1, (await host.Client.GetManifestAsync($"{ns}/web", "pinned")).Digest);
    }

    [Fact]
    public async Task KubectlCreatesPatchesAndReplacesAStream()
    {
        var host = await SharedRegistry.GetAsync();
        var ns = ImageApi.Namespace();
        var v1 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v1", "kpatch-1");
        var v2 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "v2", "kpatch-2");
        using var kubectl = new Kubectl(host.BaseAddress);

        // A stream of its own whose tags come from app (copied once).
        var created = await kubectl.OkAsync("create", "-f", Stream("site.yaml", "site", "app:v2"), "-n", ns);
        Assert.Contains("imagestream.image.openshift.io/site created", created, StringComparison.Ordinal);
        Assert.Equal(v2, (await host.Client.GetManifestAsync($"{ns}/site", "latest")).Digest);

        var merge = await kubectl.OkAsync("patch", "is", "site", "-n", ns, "--type=merge", "-p", "{\"spec\":{\"tags\":[{\"name\":\"latest\",\"from\":{\"kind\":\"ImageStreamTag\",\"name\":\"app:v1\"}}]}}");
        Assert.Contains("imagestream.image.openshift.io/site patched", merge, StringComparison.Ordinal);
        Assert.Equal(v1, (await host.Client.GetManifestAsync($"{ns}/site", "latest")).Digest);

        await kubectl.OkAsync("patch", "is", "site", "-n", ns, "--type=strategic", "-p", "{\"spec\":{\"tags\":[{\"name\":\"next\",\"from\":{\"kind\":\"ImageStreamTag\",\"name\":\"app:v2\"}}]}}");
        Assert.Equal(v2, (await host.Client.GetManifestAsync($"{ns}/site", "next")).Digest);
        Assert.Equal(v1, (await host.Client.GetManifestAsync($"{ns}/site", "latest")).Digest);

        await kubectl.OkAsync("patch", "is", "site", "-n", ns, "--type=json", "-p", "[{\"op\":\"replace\",\"path\":\"/spec/tags/0/from/name\",\"value\":\"app:v2\"}]");
        Assert.Equal(v2, (await host.Client.GetManifestAsync($"{ns}/site", "latest")).Digest);

        // replace: what get printed, with a changed tag, written back (its resourceVersion checked).
        var yaml = await kubectl.OkAsync("get", "is", "site", "-n", ns, "-o", "yaml");
        var file = System.IO.Path.Combine(_work.Path, "replace.yaml");
        await File.WriteAllTextAsync(file, yaml.Replace("name: app:v2", "name: app:v1", StringComparison.Ordinal));
        var replaced = await kubectl.OkAsync("replace", "-f", file);
        Assert.Contains("imagestream.image.openshift.io/site replaced", replaced, StringComparison.Ordinal);
        Assert.Equal(v1, (await host.Client.GetManifestAsync($"{ns}/site", "latest")).Digest);

        var stale = await kubectl.RunAsync("replace", "-f", file);
        Assert.NotEqual(0, stale.ExitCode);
        Assert.Contains("Conflict", stale.Stderr, StringComparison.Ordinal);

        // A cycle is refused with its Status.
        var cycle = await kubectl.RunAsync("patch", "is", "site", "-n", ns, "--type=merge", "-p", "{\"spec\":{\"tags\":[{\"name\":\"a\",\"from\":{\"kind\":\"ImageStreamTag\",\"name\":\"b\"}},{\"name\":\"b\",\"from\":{\"kind\":\"ImageStreamTag\",\"name\":\"a\"}}]}}");
        Assert.NotEqual(0, cycle.ExitCode);
        Assert.Contains("The ImageStream \"site\" is invalid", cycle.Stderr, StringComparison.Ordinal);
        Assert.Contains("a -> b -> a", cycle.Stderr, StringComparison.Ordinal);
    }
}
