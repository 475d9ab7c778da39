namespace Registry.Tests;

/// <summary>skopeo through the token flow: it gets the challenge, asks the token endpoint with its credentials and pushes with the token.</summary>
[Trait("Category", TestCategories.Skopeo)]
public sealed class SkopeoAccessTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("skopeo-access-").FullName;

    public void Dispose() => Skopeo.TryDelete(_work);

    [Fact]
    public async Task AUserPushesToItsNamespaceWithCredentialsAndIsDeniedElsewhereAndAnonymous()
    {
        var host = await AccessRegistry.GetAsync();
        var (user, password) = await AccessRegistry.NewUserAsync(host);
        var source = OciLayout.Create(Path.Combine(_work, "src"));
        var image = source.WriteImage(layers: 2);
        source.Tag(image.Manifest, "v1");

        await Skopeo.RunOkAsync("copy", "--dest-tls-verify=false", "--dest-creds", $"{user}:{password}", "--preserve-digests", $"oci:{source.Root}:v1", $"docker://{host.Authority}/{user}/app:v1");
        var pulled = Path.Combine(_work, "pulled");
        await Skopeo.RunOkAsync("copy", "--src-tls-verify=false", "--src-creds", $"{user}:{password}", $"docker://{host.Authority}/{user}/app:v1", $"oci:{pulled}:v1");
        Assert.Equal(image.Manifest.Digest, OciLayout.Open(pulled).Resolve("v1").Digest);

        var elsewhere = await Skopeo.RunAsync("copy", "--dest-tls-verify=false", "--dest-creds", $"{user}:{password}", $"oci:{source.Root}:v1", $"docker://{host.Authority}/{SharedRegistry.UniqueName("other")}:v1");
        Assert.NotEqual(0, elsewhere.ExitCode);
        var anonymous = await Skopeo.RunAsync("copy", "--src-tls-verify=false", "--src-no-creds", $"docker://{host.Authority}/{user}/app:v1", $"oci:{Path.Combine(_work, "anon")}:v1");
        Assert.NotEqual(0, anonymous.ExitCode);
        Assert.Contains("unauthorized", anonymous.Stderr, StringComparison.OrdinalIgnoreCase);
    }
}
