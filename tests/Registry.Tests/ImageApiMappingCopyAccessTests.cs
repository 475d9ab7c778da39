using System.Net;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>
/// A mapping of an image of another namespace under access control: it needs push on the target
/// stream and pull on a repository holding the image; an image the caller may not pull is as
/// missing (404, nothing stored), so a refusal tells nothing of other namespaces.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ImageApiMappingCopyAccessTests
{
    private const string V1 = ImageApiRoleScene.V1;

    public static TheoryData<string, string, HttpStatusCode> Roles() => new()
    {
        // role on the target namespace, role on the source namespace, the mapping's answer
        { "anonymous", "none", HttpStatusCode.Unauthorized },
        { "viewer", "viewer", HttpStatusCode.Forbidden },
        { "pusher", "none", HttpStatusCode.NotFound },
        { "pusher", "viewer", HttpStatusCode.Created },
        { "admin", "none", HttpStatusCode.NotFound },
        { "admin", "pusher", HttpStatusCode.Created },
    };

    [Theory]
    [MemberData(nameof(Roles))]
    public async Task AMappingCopiesOnlyAnImageTheCallerMayPull(string targetRole, string sourceRole, HttpStatusCode expected)
    {
        var host = await PolicyRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var (target, source) = (PolicyRegistry.NewNamespace(), PolicyRegistry.NewNamespace());
        await PolicyRegistry.CreateNamespaceAsync(admin, target);
        await PolicyRegistry.CreateNamespaceAsync(admin, source);
        var (digest, _) = await admin.PushImageAsync($"{source}/app", "v1", layers: 1);
        var image = host.Service<IGrainFactory>().GetGrain<IImageGrain>(digest);
        await Poll.UntilAsync(async () => (await image.GetHolding()).Holders == 1, "the image's push is recorded");

        var (user, auth) = await ImageApiRoleScene.CallerAsync(host, admin, target, targetRole);
        if (user is not null && sourceRole != "none")
        {
            await PolicyRegistry.BindAsync(admin, source, sourceRole, [PolicyRegistry.User(user)]);
        }

        using var client = PolicyRegistry.Client(host, auth);
        using var mapped = await ImageApiWrite.SendAsync(client, HttpMethod.Post, $"{V1}/namespaces/{target}/imagestreammappings", ImageApiMapping.Body("copy", digest, "v1"));
        if (expected == HttpStatusCode.Created)
        {
            await mapped.JsonAsync(expected);
            Assert.Equal(digest, (await admin.GetManifestAsync($"{target}/copy", "v1")).Digest);
            return;
        }

        await mapped.AssertStatusAsync(expected, expected switch
        {
            HttpStatusCode.Unauthorized => "Unauthorized",
            HttpStatusCode.Forbidden => "Forbidden",
            _ => "NotFound",
        });
        using var tags = await admin.GetAsync($"/v2/{target}/copy/tags/list");
        Assert.Equal(HttpStatusCode.NotFound, tags.StatusCode);
    }
}
