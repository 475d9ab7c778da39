namespace Registry.Tests;

/// <summary>skopeo without credentials against a namespace bound <c>viewer</c> to <c>system:anonymous</c>: it follows the challenge to an anonymous token and pulls; a private namespace stays closed.</summary>
[Trait("Category", TestCategories.Skopeo)]
public sealed class SkopeoPublicPullTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("skopeo-public-").FullName;

    public void Dispose() => Skopeo.TryDelete(_work);

    [Fact]
    public async Task AnonymousSkopeoPullsFromAPublicNamespaceAndNotFromAPrivateOne()
    {
        var host = await PolicyRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var (open, closed) = (PolicyRegistry.NewNamespace(), PolicyRegistry.NewNamespace());
        await PolicyRegistry.CreateNamespaceAsync(admin, open);
        await PolicyRegistry.CreateNamespaceAsync(admin, closed);
        await PolicyRegistry.BindAsync(admin, open, Registry.Api.Access.Roles.Viewer, [PolicyRegistry.Group(Registry.Api.Access.BuiltInGroups.Anonymous)]);
        var source = OciLayout.Create(Path.Combine(_work, "src"));
        var image = source.WriteImage(layers: 2);
        source.Tag(image.Manifest, "v1");
        foreach (var ns in new[] { open, closed })
        {
            await Skopeo.RunOkAsync("copy", "--dest-tls-verify=false", "--dest-creds", $"admin:{AccessRegistry.AdminPassword}", "--preserve-digests", $"oci:{source.Root}:v1", $"docker://{host.Authority}/{ns}/app:v1");
        }

        var pulled = Path.Combine(_work, "pulled");
        await Skopeo.RunOkAsync("copy", "--src-tls-verify=false", "--src-no-creds", $"docker://{host.Authority}/{open}/app:v1", $"oci:{pulled}:v1");
        Assert.Equal(image.Manifest.Digest, OciLayout.Open(pulled).Resolve("v1").Digest);

        var denied = await Skopeo.RunAsync("copy", "--src-tls-verify=false", "--src-no-creds", $"docker://{host.Authority}/{closed}/app:v1", $"oci:{Path.Combine(_work, "denied")}:v1");
        Assert.NotEqual(0, denied.ExitCode);
        Assert.Contains("unauthorized", denied.Stderr, StringComparison.OrdinalIgnoreCase);

        var push = await Skopeo.RunAsync("copy", "--dest-tls-verify=false", "--dest-no-creds", $"oci:{source.Root}:v1", $"docker://{host.Authority}/{open}/other:v1");
        Assert.NotEqual(0, push.ExitCode);
    }
}
