using System.Net;

namespace Registry.Tests;

/// <summary>Bad names, tags and digests get the error envelope and change nothing stored.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ValidationTests
{
    public static TheoryData<string> InvalidNames() => new()
    {
        "UPPER/case",
        "ns/App",
        "ns/a..b",
        "ns/..x",
        "ns/x..",
        "ns/.hidden",
        "ns//double",
        "ns/trailing-",
        "-leading/x",
        "ns/a___b",
        new string('a', 256),
        "ns/" + new string('b', 253),
    };

    [Theory]
    [MemberData(nameof(InvalidNames))]
    public async Task InvalidRepositoryNamesAreRefusedEverywhere(string name)
    {
        var host = await SharedRegistry.GetAsync();
        var digest = Oci.Digest([1]);
        var paths = new (HttpMethod Method, string Path)[]
        {
            (HttpMethod.Get, $"/v2/{name}/tags/list"),
            (HttpMethod.Get, $"/v2/{name}/manifests/latest"),
            (HttpMethod.Put, $"/v2/{name}/manifests/latest"),
            (HttpMethod.Get, $"/v2/{name}/blobs/{digest}"),
            (HttpMethod.Post, $"/v2/{name}/blobs/uploads/"),
            (HttpMethod.Post, $"/v2/{name}/blobs/uploads/?digest={digest}"),
            (HttpMethod.Get, $"/v2/{name}/referrers/{digest}"),
        };
        foreach (var (method, path) in paths)
        {
            using var response = await host.Client.SendAsync(method, path, method == HttpMethod.Get ? null : Oci.Octets([1]));
            await response.AssertErrorAsync(HttpStatusCode.BadRequest, "NAME_INVALID");
        }

        using var catalog = await host.Client.GetAsync("/v2/_catalog?n=10000");
        Assert.DoesNotContain(name, await catalog.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task LeadingOrTrailingSlashIsNotAName()
    {
        var host = await SharedRegistry.GetAsync();
        using var trailing = await host.Client.GetAsync("/v2/ns/app//tags/list");
        await trailing.AssertErrorAsync(HttpStatusCode.BadRequest, "NAME_INVALID");
        using var leading = await host.Client.GetAsync("/v2//ns/app/tags/list");
        await leading.AssertErrorAsync(HttpStatusCode.BadRequest, "NAME_INVALID");
    }

    [Fact]
    public async Task NamesUpTo255CharactersAreFine()
    {
        var host = await SharedRegistry.GetAsync();
        var name = "ns/" + new string('n', 220) + Guid.NewGuid().ToString("N");
        Assert.Equal(255, name.Length);
        await host.Client.PushImageAsync(name, "v1");
        using var tags = await host.Client.GetAsync($"/v2/{name}/tags/list");
        Assert.Equal(HttpStatusCode.OK, tags.StatusCode);
    }

    [Theory]
    [InlineData(".dot")]
    [InlineData("-dash")]
    [InlineData("has+plus")]
    [InlineData("129chars")]
    [InlineData(".INVALID_MANIFEST_NAME")]
    public async Task InvalidTagsAreRefusedOnPushAndUnknownOnReadAndDelete(string tag)
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        if (tag == "129chars")
        {
            tag = new string('t', 129);
        }

        var (_, manifest) = await host.Client.PushImageAsync(name, "ok");
        using var put = await host.Client.PutManifestAsync(name, tag, manifest);
        await put.AssertErrorAsync(HttpStatusCode.BadRequest, "TAG_INVALID");
        using var get = await host.Client.GetAsync($"/v2/{name}/manifests/{tag}");
        await get.AssertErrorAsync(HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        using var head = await host.Client.SendAsync(HttpMethod.Head, $"/v2/{name}/manifests/{tag}");
        Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
        using var delete = await host.Client.DeleteAsync($"/v2/{name}/manifests/{tag}");
        await delete.AssertErrorAsync(HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        Assert.Equal($"{{\"name\":\"{name}\",\"tags\":[\"ok\"]}}", await host.Client.GetStringAsync($"/v2/{name}/tags/list"));
    }

    [Theory]
    [InlineData("sha256:abc")]
    [InlineData("sha256:ZZ4136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8")]
    [InlineData("sha256:44136FA355B3678A1146AD16F7E8649E94FB4FC21FE77E8310C060F61CAAFF8A")]
    [InlineData("md5:d41d8cd98f00b204e9800998ecf8427e")]
    [InlineData("sha384:38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b")]
    [InlineData("sha256:")]
    public async Task MalformedAndUnsupportedDigestsAre400(string digest)
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        await host.Client.PushBlobAsync(name, [1, 2, 3]);
        var requests = new (HttpMethod Method, string Path)[]
        {
            (HttpMethod.Get, $"/v2/{name}/blobs/{digest}"),
            (HttpMethod.Head, $"/v2/{name}/blobs/{digest}"),
            (HttpMethod.Delete, $"/v2/{name}/blobs/{digest}"),
            (HttpMethod.Get, $"/v2/{name}/manifests/{digest}"),
            (HttpMethod.Delete, $"/v2/{name}/manifests/{digest}"),
            (HttpMethod.Post, $"/v2/{name}/blobs/uploads/?digest={digest}"),
            (HttpMethod.Post, $"/v2/{name}/blobs/uploads/?mount={digest}"),
            (HttpMethod.Get, $"/v2/{name}/referrers/{digest}"),
        };
        foreach (var (method, path) in requests)
        {
            using var response = await host.Client.SendAsync(method, path, method == HttpMethod.Post ? Oci.Octets([1, 2, 3]) : null);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            if (method != HttpMethod.Head)
            {
                await response.AssertErrorAsync(HttpStatusCode.BadRequest, "DIGEST_INVALID");
            }
        }

        using var post = await host.Client.PostAsync($"/v2/{name}/blobs/uploads/", null);
        using var put = await host.Client.PutAsync($"{post.Headers.Location}?digest={digest}", Oci.Octets([1, 2, 3]));
        await put.AssertErrorAsync(HttpStatusCode.BadRequest, "DIGEST_INVALID");
        using var status = await host.Client.GetAsync(post.Headers.Location!.ToString());
        Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
    }

    [Fact]
    public async Task UnknownMethodsAreUnsupported()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        using var response = await host.Client.SendAsync(HttpMethod.Post, $"/v2/{name}/tags/list");
        await response.AssertErrorAsync(HttpStatusCode.MethodNotAllowed, "UNSUPPORTED");
        Assert.Equal(["GET"], response.Content.Headers.Allow);

        using var blob = await host.Client.SendAsync(HttpMethod.Put, $"/v2/{name}/blobs/{Oci.Digest([1])}");
        await blob.AssertErrorAsync(HttpStatusCode.MethodNotAllowed, "UNSUPPORTED");
        Assert.Equal(["GET", "HEAD", "DELETE"], blob.Content.Headers.Allow);
    }
}
