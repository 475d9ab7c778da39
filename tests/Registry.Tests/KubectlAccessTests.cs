using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Registry.Api.Access;

namespace Registry.Tests;

/// <summary>kubectl as the real client of /apis: a token from /auth/token acts as the account or robot it was issued to, a robot's secret as the robot (kubectl --token).</summary>
[Trait("Category", TestCategories.Kubectl)]
public sealed class KubectlAccessTests
{
    [Fact]
    public async Task KubectlWithATokenFromTheTokenEndpointIsItsAccountAndWithoutOneIsRefused()
    {
        // kubectl sends credentials only over TLS: the registry serves HTTPS here with a certificate of the test's.
        using var certificate = SelfSigned();
        await using var host = await RegistryHost.StartAsync(
            null,
            builder => builder.WebHost.ConfigureKestrel(k => k.ConfigureHttpsDefaults(https => https.ServerCertificate = certificate)),
            "--Registry:Listen=https://127.0.0.1:0",
            "--Registry:Access:Enabled=true",
            $"--Registry:Access:AdminPassword={AccessRegistry.AdminPassword}");
        var (user, password) = await AccessRegistry.NewUserAsync(host);
        using var client = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator }) { BaseAddress = host.BaseAddress };
        client.DefaultRequestHeaders.Authorization = AccessRegistry.Basic(user, password);
        using var answer = JsonDocument.Parse(await client.GetStringAsync($"/auth/token?service=orleans-registry&scope=repository:{user}/app:pull"));
        var token = answer.RootElement.GetProperty("token").GetString()!;

        var (code, stdout, stderr) = await KubectlAsync(host, token, "get", "--raw", SelfSubjectReviewEndpoint.Path);
        Assert.True(code == 0, stderr);
        using (var review = JsonDocument.Parse(stdout))
        {
            Assert.Equal(user, review.RootElement.GetProperty("status").GetProperty("userInfo").GetProperty("username").GetString());
        }

        // kubectl's own "who am I" works against the registry too.
        (code, stdout, stderr) = await KubectlAsync(host, token, "auth", "whoami", "-o", "json");
        Assert.True(code == 0, stderr);
        using (var whoami = JsonDocument.Parse(stdout))
        {
            Assert.Equal(user, whoami.RootElement.GetProperty("status").GetProperty("userInfo").GetProperty("username").GetString());
        }

        (code, _, stderr) = await KubectlAsync(host, token + "x", "get", "--raw", SelfSubjectReviewEndpoint.Path);
        Assert.NotEqual(0, code);
        Assert.Contains("You must be logged in", stderr, StringComparison.Ordinal);

        // A robot's secret is a bearer token kubectl sends as it is; revoked, it is refused at once.
        using var robot = new StringContent("""{"apiVersion":"registry/v1","kind":"Robot","metadata":{"name":"kubectl"},"spec":{"actions":["pull"]}}""", System.Text.Encoding.UTF8, "application/json");
        using var created = await client.PostAsync($"/apis/registry/v1/namespaces/{user}/robots", robot);
        Assert.Equal(System.Net.HttpStatusCode.Created, created.StatusCode);
        using var robotAnswer = JsonDocument.Parse(await created.Content.ReadAsStringAsync());
        var status = robotAnswer.RootElement.GetProperty("status");
        var secret = status.GetProperty("secret").GetString()!;
        (code, stdout, stderr) = await KubectlAsync(host, secret, "auth", "whoami", "-o", "json");
        Assert.True(code == 0, stderr);
        using (var whoami = JsonDocument.Parse(stdout))
        {
            Assert.Equal(status.GetProperty("loginName").GetString(), whoami.RootElement.GetProperty("status").GetProperty("userInfo").GetProperty("username").GetString());
        }

        // A token the token endpoint issued to the robot (its secret as the Basic password) acts as the robot too.
        using var robotClient = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator }) { BaseAddress = host.BaseAddress };
        robotClient.DefaultRequestHeaders.Authorization = AccessRegistry.Basic(status.GetProperty("loginName").GetString()!, secret);
        using var robotTokenAnswer = JsonDocument.Parse(await robotClient.GetStringAsync($"/auth/token?service=orleans-registry&scope=repository:{user}/app:pull"));
        var robotToken = robotTokenAnswer.RootElement.GetProperty("token").GetString()!;
        (code, stdout, stderr) = await KubectlAsync(host, robotToken, "auth", "whoami", "-o", "json");
        Assert.True(code == 0, stderr);
        using (var whoami = JsonDocument.Parse(stdout))
        {
            Assert.Equal(status.GetProperty("loginName").GetString(), whoami.RootElement.GetProperty("status").GetProperty("userInfo").GetProperty("username").GetString());
        }

        using (var revoked = await client.DeleteAsync($"/apis/registry/v1/namespaces/{user}/robots/kubectl"))
        {
            Assert.True(revoked.IsSuccessStatusCode, await revoked.Content.ReadAsStringAsync());
        }

        foreach (var revokedCredential in new[] { secret, robotToken })
        {
            (code, _, stderr) = await KubectlAsync(host, revokedCredential, "auth", "whoami", "-o", "json");
            Assert.NotEqual(0, code);
            Assert.Contains("You must be logged in", stderr, StringComparison.Ordinal);
        }
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
    }

    private static async Task<(int Code, string Stdout, string Stderr)> KubectlAsync(RegistryHost host, string token, params string[] args)
    {
        using var config = new TempDirectory("kubectl-");
        var info = new ProcessStartInfo("kubectl")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };

        // No kubeconfig of the machine's: only the flags say where and who.
        info.Environment["KUBECONFIG"] = Path.Combine(config.Path, "none");
        info.Environment["HOME"] = config.Path;
        foreach (var arg in args.Concat([$"--server={host.BaseAddress.ToString().TrimEnd('/')}", $"--token={token}", "--insecure-skip-tls-verify=true", "--request-timeout=30s"]))
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = Bounded.Token();
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new Xunit.Sdk.XunitException($"kubectl {string.Join(' ', args)} did not finish: {await stderr}");
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
