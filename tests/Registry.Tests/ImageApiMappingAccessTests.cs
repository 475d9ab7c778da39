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
    private const string V1 = "/apis/image.openshift.io/v1";

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
        var host = await PolicyRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var ns = PolicyRegistry.NewNamespace();
        await PolicyRegistry.CreateNamespaceAsync(admin, ns);
        var (v1, _) = await admin.PushImageAsync($"{ns}/app", "v1", layers: 1);
        var (v2, _) = await admin.PushImageAsync($"{ns}/app", "v2", layers: 1);

        System.Net.Http.Headers.AuthenticationHeaderValue? auth = null;
        if (role != "anonymous")
        {
            (var user, auth) = await PolicyRegistry.NewUserAsync(host);
            await PolicyRegistry.BindAsync(admin, ns, role, [PolicyRegistry.User(user)]);
        }

        using var client = PolicyRegistry.Client(host, auth);
        var mappings = $"{V1}/namespaces/{ns}/imagestreammappings";
        using (var mapped = await ImageApiWrite.SendAsync(client, HttpMethod.Post, mappings, ImageApiMapping.Body("app", v1, "new")))
        {
            await Expect(mapped, mapNew);
        }

        using (var moved = await ImageApiWrite.SendAsync(client, HttpMethod.Post, mappings, ImageApiMapping.Body("app", v1, "v2")))
        {
            await Expect(moved, mapMove);
        }

        using (var read = await client.GetAsync($"{V1}/namespaces/{ns}/imagestreams/app/layers"))
        {
            await Expect(read, layers);
        }

        using (var patched = await ImageApiWrite.SendAsync(client, HttpMethod.Patch, $"{V1}/namespaces/{ns}/imagestreamtags/app:v1", ImageApiMapping.FromPatch("ImageStreamImage", $"app@{v2}"), "application/merge-patch+json"))
        {
            await Expect(patched, patch);
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

    private static async Task Expect(HttpResponseMessage response, HttpStatusCode expected)
    {
        if (expected is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            await response.AssertStatusAsync(expected, expected == HttpStatusCode.Unauthorized ? "Unauthorized" : "Forbidden");
        }
        else
        {
            await response.JsonAsync(expected);
        }
    }
}
