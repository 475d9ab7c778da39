using System.Text;
using Registry.Api.Oci;
using Registry.Api.Services;

namespace Registry.Tests;

/// <summary>What the parser reads from each manifest kind, and every way a manifest is refused.</summary>
[Trait("Category", "Fast")]
public sealed class ManifestParserTests
{
    private const string ConfigType = "application/vnd.oci.image.config.v1+json";
    private const string LayerType = "application/vnd.oci.image.layer.v1.tar+gzip";
    private static readonly string Config = D('c');
    private static readonly string Layer1 = D('1');
    private static readonly string Layer2 = D('2');
    private static readonly string Child1 = D('a');
    private static readonly string Child2 = D('b');
    private static readonly string Subject = D('5');

    [Fact]
    public void AnOciImageManifestNamesItsConfigAndLayers()
    {
        var parsed = Accept($$$"""
            {"schemaVersion":2,"mediaType":"{{{MediaTypes.OciManifest}}}",
             "config":{{{Desc(ConfigType, Config)}}},
             "layers":[{{{Desc(LayerType, Layer1)}}},{{{Desc(LayerType, Layer2)}}},{{{Desc(LayerType, Layer1)}}}],
             "annotations":{"b":"2","a":"1"}}
            """, MediaTypes.OciManifest);
        Assert.Equal(MediaTypes.OciManifest, parsed.MediaType);
        Assert.Equal(ConfigType, parsed.ArtifactType);
        Assert.Null(parsed.Subject);
        Assert.Equal([Config, Layer1, Layer2], parsed.Blobs);
        Assert.Empty(parsed.Children);
        Assert.Equal([KeyValuePair.Create("b", "2"), KeyValuePair.Create("a", "1")], parsed.Annotations!);
    }

    [Fact]
    public void AnArtifactKeepsItsArtifactTypeAndSubject()
    {
        var parsed = Accept($$$"""
            {"schemaVersion":2,"mediaType":"{{{MediaTypes.OciManifest}}}","artifactType":"application/vnd.example.sbom",
             "config":{{{Desc("application/vnd.oci.empty.v1+json", Config)}}},"layers":[],
             "subject":{{{Desc(MediaTypes.OciManifest, Subject)}}}}
            """, MediaTypes.OciManifest);
        Assert.Equal("application/vnd.example.sbom", parsed.ArtifactType);
        Assert.Equal(Subject, parsed.Subject);
        Assert.Equal([Config], parsed.Blobs);
        Assert.Null(parsed.Annotations);
    }

    [Fact]
    public void AnEmptyArtifactTypeFallsBackToTheConfigType()
        => Assert.Equal(ConfigType, Accept(Image(""" "artifactType":"", """), MediaTypes.OciManifest).ArtifactType);

    [Fact]
    public void ForeignLayersAreNotBlobsTheRegistryMustHold()
    {
        var parsed = Accept($$$"""
            {"schemaVersion":2,"config":{{{Desc(ConfigType, Config)}}},
             "layers":[{{{Desc("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", Layer1)}}},{{{Desc("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", Layer2)}}}]}
            """, MediaTypes.OciManifest);
        Assert.Equal([Config], parsed.Blobs);
    }

    [Fact]
    public void AnOciImageManifestMayHaveNoLayers()
        => Assert.Equal([Config], Accept($$$"""{"schemaVersion":2,"config":{{{Desc(ConfigType, Config)}}}}""", MediaTypes.OciManifest).Blobs);

    [Fact]
    public void AnOciIndexNamesItsChildren()
    {
        var parsed = Accept($$$"""
            {"schemaVersion":2,"mediaType":"{{{MediaTypes.OciIndex}}}",
             "manifests":[{{{Desc(MediaTypes.OciManifest, Child1)}}},{{{Desc(MediaTypes.OciManifest, Child2)}}},{{{Desc(MediaTypes.OciManifest, Child1)}}}],
             "config":5,"layers":"not looked at"}
            """, MediaTypes.OciIndex);
        Assert.Equal(MediaTypes.OciIndex, parsed.MediaType);
        Assert.Null(parsed.ArtifactType);
        Assert.Empty(parsed.Blobs);
        Assert.Equal([Child1, Child2], parsed.Children);
    }

    [Fact]
    public void AnIndexKeepsADeclaredArtifactType()
        => Assert.Equal("application/vnd.example", Accept($$$"""{"schemaVersion":2,"artifactType":"application/vnd.example","manifests":[]}""", MediaTypes.OciIndex).ArtifactType);

    [Fact]
    public void ADockerManifestAndListAreRecognised()
    {
        var image = Accept($$$"""
            {"schemaVersion":2,"mediaType":"{{{MediaTypes.DockerManifest}}}",
             "config":{{{Desc("application/vnd.docker.container.image.v1+json", Config)}}},
             "layers":[{{{Desc("application/vnd.docker.image.rootfs.diff.tar.gzip", Layer1)}}}]}
            """, null);
        Assert.Equal(MediaTypes.DockerManifest, image.MediaType);
        Assert.Equal([Config, Layer1], image.Blobs);

        var list = Accept($$$"""
            {"schemaVersion":2,"mediaType":"{{{MediaTypes.DockerManifestList}}}","manifests":[{{{Desc(MediaTypes.DockerManifest, Child1)}}}]}
            """, MediaTypes.DockerManifestList);
        Assert.Equal(MediaTypes.DockerManifestList, list.MediaType);
        Assert.Equal([Child1], list.Children);
    }

    [Theory]
    [InlineData(MediaTypes.OciManifest + "; charset=utf-8")]
    [InlineData(" " + MediaTypes.OciManifest + " ")]
    public void ContentTypeParametersAreIgnored(string contentType)
        => Assert.Equal(MediaTypes.OciManifest, Accept(Image(""), contentType).MediaType);

    [Theory]
    [InlineData(null)]
    [InlineData("application/json")]
    [InlineData("application/octet-stream")]
    public void WithoutAKnownContentTypeTheDeclaredMediaTypeDecides(string? contentType)
        => Assert.Equal(MediaTypes.OciManifest, Accept(Image($$$""" "mediaType":"{{{MediaTypes.OciManifest}}}", """), contentType).MediaType);

    [Theory]
    [InlineData(""" "mediaType":5, """)]
    [InlineData(""" "mediaType":null, """)]
    [InlineData(""" "artifactType":{"x":1}, """)]
    [InlineData(""" "annotations":null, """)]
    [InlineData(""" "unknown":[1,{"a":null}], """)]
    public void FieldsOfAnotherShapeThatDoNotMatterAreIgnored(string extra)
        => Assert.Equal(MediaTypes.OciManifest, Accept(Image(extra), MediaTypes.OciManifest).MediaType);

    public static TheoryData<string, string?> Refused() => new()
    {
        // Not a JSON object.
        { "{", MediaTypes.OciManifest },
        { "", MediaTypes.OciManifest },
        { "[]", MediaTypes.OciManifest },
        { "null", MediaTypes.OciManifest },
        { "\"manifest\"", MediaTypes.OciManifest },
        { Image("") + " x", MediaTypes.OciManifest },
        { Image("")[..^1] + ",}", MediaTypes.OciManifest },

        // Schema version and media type.
        { $$$"""{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}""", null },
        { Image(""), MediaTypes.DockerSchema1 },
        { Image(""), MediaTypes.DockerSchema1Signed },
        { Image($$$""" "mediaType":"{{{MediaTypes.DockerSchema1}}}", """), null },
        { Image("").Replace("\"schemaVersion\":2,", "", StringComparison.Ordinal), MediaTypes.OciManifest },
        { Image("").Replace("\"schemaVersion\":2", "\"schemaVersion\":3", StringComparison.Ordinal), MediaTypes.OciManifest },
        { Image("").Replace("\"schemaVersion\":2", "\"schemaVersion\":\"2\"", StringComparison.Ordinal), MediaTypes.OciManifest },
        { Image("").Replace("\"schemaVersion\":2", "\"schemaVersion\":2.5", StringComparison.Ordinal), MediaTypes.OciManifest },
        { Image(""), null },
        { Image(""), "application/json" },
        { Image(""" "mediaType":"application/vnd.example+json", """), null },
        { Image($$$""" "mediaType":"{{{MediaTypes.OciIndex}}}", """), MediaTypes.OciManifest },

        // Config.
        { """{"schemaVersion":2,"layers":[]}""", MediaTypes.OciManifest },
        { """{"schemaVersion":2,"config":null}""", MediaTypes.OciManifest },
        { """{"schemaVersion":2,"config":"x"}""", MediaTypes.OciManifest },
        { $$$"""{"schemaVersion":2,"config":{"mediaType":"{{{ConfigType}}}","digest":"sha256:abc","size":1}}""", MediaTypes.OciManifest },
        { $$$"""{"schemaVersion":2,"config":{"mediaType":"{{{ConfigType}}}","size":1}}""", MediaTypes.OciManifest },
        { $$$"""{"schemaVersion":2,"config":{"mediaType":"{{{ConfigType}}}","digest":5,"size":1}}""", MediaTypes.OciManifest },
        { $$$"""{"schemaVersion":2,"config":{"mediaType":"{{{ConfigType}}}","digest":"{{{D('c')}}}"}}""", MediaTypes.OciManifest },
        { $$$"""{"schemaVersion":2,"config":{"mediaType":"{{{ConfigType}}}","digest":"{{{D('c')}}}","size":-1}}""", MediaTypes.OciManifest },
        { $$$"""{"schemaVersion":2,"config":{"mediaType":"{{{ConfigType}}}","digest":"{{{D('c')}}}","size":1.5}}""", MediaTypes.OciManifest },
        { $$$"""{"schemaVersion":2,"config":{"mediaType":"{{{ConfigType}}}","digest":"{{{D('c')}}}","size":"1"}}""", MediaTypes.OciManifest },
        { $$$"""{"schemaVersion":2,"config":{"digest":"{{{D('c')}}}","size":1}}""", MediaTypes.OciManifest },
        { $$$"""{"schemaVersion":2,"config":{"mediaType":"","digest":"{{{D('c')}}}","size":1}}""", MediaTypes.OciManifest },

        // Layers.
        { NoLayers(""" "layers":null, """), MediaTypes.OciManifest },
        { NoLayers(""" "layers":"x", """), MediaTypes.OciManifest },
        { NoLayers(""" "layers":[null], """), MediaTypes.OciManifest },
        { NoLayers(""" "layers":[5], """), MediaTypes.OciManifest },
        { NoLayers(""" "layers":[{"mediaType":"x","digest":"sha256:00","size":1}], """), MediaTypes.OciManifest },
        { $$$"""{"schemaVersion":2,"config":{{{Desc(ConfigType, D('c'))}}}}""", MediaTypes.DockerManifest },

        // Index.
        { """{"schemaVersion":2}""", MediaTypes.OciIndex },
        { """{"schemaVersion":2,"manifests":null}""", MediaTypes.OciIndex },
        { """{"schemaVersion":2,"manifests":{}}""", MediaTypes.DockerManifestList },
        { """{"schemaVersion":2,"manifests":[null]}""", MediaTypes.OciIndex },
        { $$$"""{"schemaVersion":2,"manifests":[{"mediaType":"{{{MediaTypes.OciManifest}}}","digest":"sha256:zz","size":1}]}""", MediaTypes.OciIndex },

        // Subject.
        { Image(""" "subject":null, """), MediaTypes.OciManifest },
        { Image(""" "subject":[], """), MediaTypes.OciManifest },
        { Image(""" "subject":{"mediaType":"x","size":1}, """), MediaTypes.OciManifest },
        { $$$"""{"schemaVersion":2,"manifests":[],"subject":{"digest":"{{{D('5')}}}","size":1}}""", MediaTypes.OciIndex },

        // Annotations.
        { Image(""" "annotations":[], """), MediaTypes.OciManifest },
        { Image(""" "annotations":"x", """), MediaTypes.OciManifest },
        { Image(""" "annotations":{"a":1}, """), MediaTypes.OciManifest },
        { Image(""" "annotations":{"a":null}, """), MediaTypes.OciManifest },
        { Image(""" "annotations":{"a":{"b":"c"}}, """), MediaTypes.OciManifest },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void MalformedManifestsAreRefusedAsManifestInvalid(string json, string? contentType)
        => AssertRefused(Encoding.UTF8.GetBytes(json), contentType);

    [Theory]
    [InlineData("annotations\":{\"a\":\"", "\"}")]
    [InlineData("annotations\":{\"", "\":\"a\"}")]
    [InlineData("artifactType\":\"", "\"")]
    [InlineData("mediaType\":\"", "\"")]
    public void InvalidUtf8InAStringIsRefusedAsManifestInvalid(string before, string after)
    {
        // 0xC3 0x28: a two-byte sequence whose second byte is not a continuation byte.
        byte[] body = [.. Encoding.UTF8.GetBytes("{\"" + before), 0xC3, 0x28, .. Encoding.UTF8.GetBytes(after + "," + Image("")[1..])];
        AssertRefused(body, MediaTypes.OciManifest);
    }

    private static ParsedManifest Accept(string json, string? contentType)
    {
        var parsed = ManifestParser.Parse(Encoding.UTF8.GetBytes(json), contentType, out var error);
        Assert.True(error is null, $"refused: {error?.Detail}");
        return parsed;
    }

    private static void AssertRefused(byte[] body, string? contentType)
    {
        ManifestParser.Parse(body, contentType, out var error);
        Assert.NotNull(error);
        Assert.Equal(OciErrorCode.ManifestInvalid, error.Code);
        Assert.Equal(400, error.Code.Status);
        Assert.False(string.IsNullOrEmpty(error.Detail));
    }

    /// <summary>A minimal image manifest with <paramref name="extra"/> (members followed by a comma) at its start.</summary>
    private static string Image(string extra)
        => $$$"""{{{{extra}}}"schemaVersion":2,"config":{{{Desc(ConfigType, D('c'))}}},"layers":[{{{Desc(LayerType, D('1'))}}}]}""";

    /// <summary>An image manifest without layers, with <paramref name="extra"/> at its start.</summary>
    private static string NoLayers(string extra)
        => $$$"""{{{{extra}}}"schemaVersion":2,"config":{{{Desc(ConfigType, D('c'))}}}}""";

    private static string Desc(string mediaType, string digest) => $$$"""{"mediaType":"{{{mediaType}}}","digest":"{{{digest}}}","size":7}""";

    private static string D(char c) => "sha256:" + new string(c, 64);
}
