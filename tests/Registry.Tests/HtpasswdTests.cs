using System.Net;
using Registry.Api.Access;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>Users of an htpasswd file, as the reference registry reads it, are imported at start.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class HtpasswdTests
{
    [Fact]
    public async Task BcryptUsersAreImportedOthersSkippedAndExistingOnesLeftAlone()
    {
        var data = Directory.CreateTempSubdirectory("htpasswd-").FullName;
        var file = Path.Combine(data, "htpasswd");
        var revisions = new[] { "$2y$", "$2a$", "$2b$" };
        var lines = new List<string> { "# a comment", "" };
        for (var i = 0; i < revisions.Length; i++)
        {
            // htpasswd -B writes $2y$; other tools $2a$ or $2b$: the same bcrypt.
            lines.Add($"user{i}:{revisions[i]}{BCrypt.Net.BCrypt.HashPassword($"password-{i}", 4)[4..]}");
        }

        lines.Add("md5user:$apr1$abcdefgh$0123456789abcdefghijkl");
        lines.Add("shauser:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=");
        lines.Add("Bad_Name:" + BCrypt.Net.BCrypt.HashPassword("whatever", 4));
        lines.Add($"{AdminBootstrap.AdminName}:{BCrypt.Net.BCrypt.HashPassword("htpasswd-admin", 4)}");
        await File.WriteAllLinesAsync(file, lines);

        var host = await RegistryHost.StartAsync(
            data,
            "--Registry:Access:Enabled=true",
            $"--Registry:Access:AdminPassword={AccessRegistry.AdminPassword}",
            $"--Registry:Access:HtpasswdFile={file}");
        for (var i = 0; i < revisions.Length; i++)
        {
            using var response = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/user{i}/app/tags/list", AccessRegistry.Basic($"user{i}", $"password-{i}"));
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        var grains = host.Service<IGrainFactory>();
        Assert.Null(await grains.GetGrain<IAccountGrain>("md5user").Get());
        Assert.Null(await grains.GetGrain<IAccountGrain>("shauser").Get());
        Assert.Null(await grains.GetGrain<IAccountGrain>("Bad_Name").Get());

        // The existing admin keeps its password; the file does not override it.
        using (var admin = await AccessRegistry.SendAsync(host, HttpMethod.Get, "/v2/_catalog", AccessRegistry.Basic(AdminBootstrap.AdminName, AccessRegistry.AdminPassword)))
        {
            Assert.Equal(HttpStatusCode.OK, admin.StatusCode);
        }

        using (var fromFile = await AccessRegistry.SendAsync(host, HttpMethod.Get, "/v2/_catalog", AccessRegistry.Basic(AdminBootstrap.AdminName, "htpasswd-admin")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, fromFile.StatusCode);
        }

        // Imported users are listed like any other, and a password changed here survives the next import.
        var listed = await IdentityApi.SendAsync(host, HttpMethod.Get, IdentityApi.Users, IdentityApi.Admin);
        Assert.Contains("user0", listed.Body.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("metadata").GetProperty("name").GetString()));
        Assert.True(await grains.GetGrain<IAccountGrain>("user0").SetPassword(PasswordHashing.Hash("changed-here")));
        await host.StopAsync();

        var restarted = await RegistryHost.StartAsync(
            data,
            "--Registry:Access:Enabled=true",
            $"--Registry:Access:AdminPassword={AccessRegistry.AdminPassword}",
            $"--Registry:Access:HtpasswdFile={file}");
        try
        {
            using var kept = await AccessRegistry.SendAsync(restarted, HttpMethod.Get, "/v2/user0/app/tags/list", AccessRegistry.Basic("user0", "changed-here"));
            Assert.Equal(HttpStatusCode.NotFound, kept.StatusCode);
        }
        finally
        {
            await restarted.StopAsync();
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public void AMissingFileStopsTheStartWithAMessage()
    {
        var data = Directory.CreateTempSubdirectory("htpasswd-missing-").FullName;
        string[] args = [$"--Registry:DataDirectory={data}", "--Registry:Listen=http://127.0.0.1:0", "--Registry:Access:Enabled=true", "--Registry:Access:HtpasswdFile=/nonexistent/htpasswd"];

        var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => Registry.Api.RegistryApp.Create(args));

        Assert.Contains("HtpasswdFile", error.Message, StringComparison.Ordinal);
        Directory.Delete(data, recursive: true);
    }
}
