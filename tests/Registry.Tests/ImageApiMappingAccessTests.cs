using System.Net;

namespace Registry.Tests;

/// <summary>
/// Mappings, layers and patches under access control: a mapping needs push (and overwrite to move
/// a tag), layers pull, a patch what an update needs; anonymous callers get 401, known ones 403,
/// and a refusal changes nothing.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ImageApiMappingAccessTests
{
    private const string V1 = ImageApiRoleScene.V1;

    public static TheoryData<string, HttpStatusCode, HttpStatusCode, HttpStatusCode, HttpStatusCode> Roles() => new()
    {
        // role, map a new tag, map onto a tag of another image, read layers, patch a tag elsewhere
        { "anonymous", HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized },
        { "viewer", HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.OK, HttpStatusCode.Forbidden },
        { "pusher", HttpStatusCode.Created, HttpStatusCode.Forbidden, HttpStatusCode.OK, HttpStatusCode.Forbidden },
        { "admin", HttpStatusCode.Created, HttpStatusCode.Created, HttpStatusCode.OK, HttpStatusCode.OK },
    };

    [Theory]
    [MemberData(nameof(Roles))]
    public async Task EachRoleMayMapReadLayersAndPatchAsItsPermissionsAllow(string role, HttpStatusCode mapNew, HttpStatusCode mapMove, HttpStatusCode layers, HttpStatusCode patch)
    {
        using var scene = await ImageApiRoleScene.StartAsync(role);
        var (admin, client, ns, v1, v2) = (scene.Admin, scene.Client, scene.Namespace, scene.First, scene.Second);
        var mappings = $"{V1}/namespaces/{ns}/imagestreammappings";
        using (var mapped = await ImageApiWrite.SendAsync(client, HttpMethod.Post, mappings, ImageApiMapping.Body("app", v1, "new")))
        {
            await ImageApiRoleScene.ExpectAsync(mapped, mapNew);
        }

        using (var moved = await ImageApiWrite.SendAsync(client, HttpMethod.Post, mappings, ImageApiMapping.Body("app", v1, "v2")))
        {
            await ImageApiRoleScene.ExpectAsync(moved, mapMove);
        }

        using (var read = await client.GetAsync($"{V1}/namespaces/{ns}/imagestreams/app/layers"))
        {
            await ImageApiRoleScene.ExpectAsync(read, layers);
        }

        using (var patched = await ImageApiWrite.SendAsync(client, HttpMethod.Patch, $"{V1}/namespaces/{ns}/imagestreamtags/app:v1", ImageApiMapping.FromPatch("ImageStreamImage", $"app@{v2}"), "application/merge-patch+json"))
        {
            await ImageApiRoleScene.ExpectAsync(patched, patch);
        }

        var expected = new List<string> { "v1", "v2" };
        if (mapNew == HttpStatusCode.Created)
        {
            expected.Add("new");
        }

        Assert.Equal(expected.Order(StringComparer.Ordinal), (await admin.ListTagsAsync($"{ns}/app")).Order(StringComparer.Ordinal));
        Assert.Equal(mapMove == HttpStatusCode.Created ? v1 : v2, (await admin.GetManifestAsync($"{ns}/app", "v2")).Digest);
        Assert.Equal(patch == HttpStatusCode.OK ? v2 : v1, (await admin.GetManifestAsync($"{ns}/app", "v1")).Digest);
    }
}
