using System.Net;
using System.Text.Json;
using Registry.Api.Access;
using Xunit.Sdk;

namespace Registry.Tests;

/// <summary>
/// podman as a real client against a registry with access control on: <c>podman login</c>, then
/// push and pull with the stored credentials (the token flow), from an image built in the test.
/// </summary>
[Trait("Category", TestCategories.Skopeo)]
public sealed class PodmanAccessTests : IDisposable
{
    // Lowercase, as podman names an image pulled from an OCI layout after its path; short, as
    // podman refuses a runroot longer than 50 characters.
    private readonly string _work = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"podman-{Guid.NewGuid().ToString("N")[..12]}")).FullName;

    public void Dispose() => Skopeo.TryDelete(_work);

    [Fact]
    public async Task AUserLogsInPushesAndPullsBackAndTheAdminPullsItWhileAnonymousMayNot()
    {
        var host = await AccessRegistry.GetAsync();
        var (user, password) = await AccessRegistry.NewUserAsync(host);
        var source = OciLayout.Create(Path.Combine(_work, "src"));
        var image = source.WriteImage(layers: 2);
        source.Tag(image.Manifest, "v1");
        var podman = new Podman(Path.Combine(_work, "user"));
        var target = $"{host.Authority}/{user}/app:v1";

        var id = (await podman.RunOkAsync("pull", "-q", $"oci:{source.Root}:v1")).StdoutText.Trim();
        await podman.RunOkAsync("tag", id, target);
        var anonymous = await podman.RunAsync("push", "--tls-verify=false", "--authfile", podman.AuthFile, target);
        Assert.NotEqual(0, anonymous.ExitCode);

        await podman.RunOkAsync("login", "--tls-verify=false", "--authfile", podman.AuthFile, "-u", user, "-p", password, host.Authority);
        await podman.RunOkAsync("push", "--tls-verify=false", "--authfile", podman.AuthFile, target);
        await podman.RunOkAsync("rmi", "-f", target);
        await podman.RunOkAsync("pull", "--tls-verify=false", "--authfile", podman.AuthFile, target);
        Assert.Equal(id, (await podman.RunOkAsync("image", "inspect", "--format", "{{.Id}}", target)).StdoutText.Trim());

        // The admin (from its own login) pulls the user's image; the tag is listed to the user's token.
        var admin = new Podman(Path.Combine(_work, "admin"));
        await admin.RunOkAsync("login", "--tls-verify=false", "--authfile", admin.AuthFile, "-u", AdminBootstrap.AdminName, "-p", AccessRegistry.AdminPassword, host.Authority);
        await admin.RunOkAsync("pull", "--tls-verify=false", "--authfile", admin.AuthFile, target);
        var token = await AccessRegistry.TokenAsync(host, user, password, $"repository:{user}/app:pull");
        using var tags = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{user}/app/tags/list", new("Bearer", token));
        Assert.Equal(HttpStatusCode.OK, tags.StatusCode);
        Assert.Equal(["v1"], JsonDocument.Parse(await tags.Content.ReadAsStringAsync()).RootElement.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));

        await podman.RunOkAsync("logout", "--authfile", podman.AuthFile, host.Authority);
        var loggedOut = await podman.RunAsync("pull", "--tls-verify=false", "--authfile", podman.AuthFile, $"{host.Authority}/{user}/app:v1-missing");
        Assert.NotEqual(0, loggedOut.ExitCode);
    }
}

/// <summary>
/// The real podman binary on a storage of its own (vfs, no mounts, so root needs no kernel
/// features), its own credentials file, and a time limit per command.
/// </summary>
public sealed class Podman(string root)
{
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    public string AuthFile { get; } = Path.Combine(root, "auth.json");

    public Task<ProcessResult> RunAsync(params string[] args)
    {
        Directory.CreateDirectory(root);
        string[] all =
        [
            "--root", Path.Combine(root, "storage"),
            "--runroot", Path.Combine(root, "run"),
            "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs",
            "--events-backend", "file",
            "--tmpdir", Path.Combine(root, "tmp"),
            .. args,
        ];
        return ProcessRunner.RunAsync(Skopeo.FindOnPath("podman") ?? throw new XunitException("podman is not on PATH: run `apt-get install -y podman` (scripts/test.sh does it when podman is missing)."), all, Timeout);
    }

    public async Task<ProcessResult> RunOkAsync(params string[] args)
    {
        var result = await RunAsync(args);
        return result.ExitCode == 0 ? result : throw new XunitException("podman failed: " + result.Describe());
    }
}
