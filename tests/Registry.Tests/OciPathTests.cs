using Registry.Api.Oci;

namespace Registry.Tests;

/// <summary><c>/v2/</c> paths split into route, repository name and reference, recognised from the end.</summary>
[Trait("Category", "Fast")]
public sealed class OciPathTests
{
    private const string Digest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    [Theory]
    [InlineData(null, OciRoute.Base, "", "")]
    [InlineData("", OciRoute.Base, "", "")]
    [InlineData("_catalog", OciRoute.Catalog, "", "")]
    [InlineData("app/tags/list", OciRoute.Tags, "app", "")]
    [InlineData("ns/app/tags/list", OciRoute.Tags, "ns/app", "")]
    [InlineData("ns/group/app/tags/list", OciRoute.Tags, "ns/group/app", "")]
    [InlineData("ns/app/manifests/latest", OciRoute.Manifest, "ns/app", "latest")]
    [InlineData("ns/app/manifests/" + Digest, OciRoute.Manifest, "ns/app", Digest)]
    [InlineData("ns/app/referrers/" + Digest, OciRoute.Referrers, "ns/app", Digest)]
    [InlineData("ns/app/blobs/" + Digest, OciRoute.Blob, "ns/app", Digest)]
    [InlineData("ns/app/blobs/uploads/", OciRoute.UploadStart, "ns/app", "")]
    [InlineData("ns/app/blobs/uploads", OciRoute.UploadStart, "ns/app", "")]
    [InlineData("ns/app/blobs/uploads/3f2a", OciRoute.Upload, "ns/app", "3f2a")]
    [InlineData("ns/blobs/uploads/3f2a", OciRoute.Upload, "ns", "3f2a")]
    [InlineData("ns/manifests/manifests/v1", OciRoute.Manifest, "ns/manifests", "v1")]
    [InlineData("ns/tags/tags/list", OciRoute.Tags, "ns/tags", "")]
    public void RecognisesEachRoute(string? path, OciRoute route, string name, string reference)
        => Assert.Equal(new OciPath(route, name, reference), OciPath.Parse(path));

    [Theory]
    [InlineData("tags/list")]
    [InlineData("manifests/latest")]
    [InlineData("blobs/" + Digest)]
    [InlineData("ns/app")]
    [InlineData("ns/app/tags")]
    [InlineData("ns/app/tags/list/")]
    [InlineData("ns/app/unknown/x")]
    [InlineData("_catalog/")]
    [InlineData("ns/app/manifests")]
    public void UnknownShapesAreNotFound(string path)
        => Assert.Equal(OciRoute.NotFound, OciPath.Parse(path).Route);

    [Theory]
    [InlineData("ns/app//tags/list", "ns/app/")]
    [InlineData("/ns/app/tags/list", "/ns/app")]
    [InlineData("NS/App/manifests/latest", "NS/App")]
    [InlineData("ns/../x/manifests/latest", "ns/../x")]
    public void TheNameIsCutAsIsAndTheGrammarRefusesItLater(string path, string name)
    {
        var parsed = OciPath.Parse(path);
        Assert.Equal(name, parsed.Name);
        Assert.False(References.IsValidName(parsed.Name));
    }

    [Theory]
    [InlineData("app", true)]
    [InlineData("ns/app", true)]
    [InlineData("ns/a.b_c__d--e/f", true)]
    [InlineData("ns/App", false)]
    [InlineData("ns/a..b", false)]
    [InlineData("ns/a___b", false)]
    [InlineData("ns//app", false)]
    [InlineData("ns/app-", false)]
    [InlineData("", false)]
    public void RepositoryNamesFollowTheGrammar(string name, bool valid)
        => Assert.Equal(valid, References.IsValidName(name));

    [Fact]
    public void NamesAreAtMost255Characters()
    {
        Assert.True(References.IsValidName("ns/" + new string('a', 252)));
        Assert.False(References.IsValidName("ns/" + new string('a', 253)));
    }

    [Theory]
    [InlineData("latest", true)]
    [InlineData("_v1.2-rc", true)]
    [InlineData(".hidden", false)]
    [InlineData("-dash", false)]
    [InlineData("has+plus", false)]
    [InlineData("", false)]
    public void TagsFollowTheGrammar(string tag, bool valid)
        => Assert.Equal(valid, References.IsValidTag(tag));

    [Fact]
    public void TagsAreAtMost128Characters()
    {
        Assert.True(References.IsValidTag(new string('t', 128)));
        Assert.False(References.IsValidTag(new string('t', 129)));
    }

    [Theory]
    [InlineData(Digest, true)]
    [InlineData("sha512:" + "ab" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd", true)]
    [InlineData("sha256:44136FA355B3678A1146AD16F7E8649E94FB4FC21FE77E8310C060F61CAAFF8A", false)]
    [InlineData("sha256:abc", false)]
    [InlineData("sha256:", false)]
    [InlineData("md5:d41d8cd98f00b204e9800998ecf8427e", false)]
    [InlineData("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\n", false)]
    public void DigestsAreSha256OrSha512InLowercaseHex(string digest, bool valid)
        => Assert.Equal(valid, References.IsValidDigest(digest));
}
