using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Registry.Api.Events;
using Registry.Api.Json;
using Registry.Api.Observability;
using Registry.Api.Oci;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>
/// The exact bytes of the JSON the API writes: property names, order, nulls and escaping are
/// what clients and existing log readers see, so they must not drift.
/// </summary>
[Trait("Category", "Fast")]
public sealed class WireJsonTests
{
    [Fact]
    public void TheErrorEnvelopeCarriesCodeMessageAndDetail()
    {
        Assert.Equal(
            """{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:abc"}]}""",
            Encoding.UTF8.GetString(OciErrorCode.BlobUnknown.WithDetail("sha256:abc").ToJson()));
    }

    [Fact]
    public void TheErrorEnvelopeWritesAMissingDetailAsNull()
        => Assert.Equal(
            """{"errors":[{"code":"UNKNOWN","message":"unknown error","detail":null}]}""",
            Encoding.UTF8.GetString(OciErrorCode.Unknown.WithDetail().ToJson()));

    [Fact]
    public void TheErrorEnvelopeEscapesAsTheDefaultEncoderDoes()
        => Assert.Equal(
            """{"errors":[{"code":"NAME_INVALID","message":"invalid repository name","detail":"\u0027a\u002Bb\u003C\u0022\u00E9\u0027"}]}""",
            Encoding.UTF8.GetString(OciErrorCode.NameInvalid.WithDetail("'a+b<\"é'").ToJson()));

    [Fact]
    public async Task AnErrorAnswerHasItsStatusTypeLengthAndHeaders()
    {
        var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        context.Request.Method = "GET";
        using var body = new MemoryStream();
        context.Response.Body = body;
        await OciErrorCode.TooManyRequests.WithDetail("slow down").WithHeader("Retry-After", "1").ExecuteAsync(context);
        Assert.Equal(429, context.Response.StatusCode);
        Assert.Equal("application/json", context.Response.ContentType);
        Assert.Equal("1", context.Response.Headers.RetryAfter.ToString());
        Assert.Equal(body.Length, context.Response.ContentLength);
        Assert.Equal("""{"errors":[{"code":"TOOMANYREQUESTS","message":"too many requests","detail":"slow down"}]}""", Encoding.UTF8.GetString(body.ToArray()));
    }

    [Fact]
    public void TheReferrersIndexListsDescriptorsWithOptionalArtifactTypeAndAnnotations()
    {
        var index = new ReferrersIndex(2, "application/vnd.oci.image.index.v1+json",
        [
            new ReferrerDescriptor("application/vnd.oci.image.manifest.v1+json", "sha256:aa", 12, "application/vnd.example.sbom", new Dictionary<string, string> { ["z"] = "1", ["a"] = "2" }),
            new ReferrerDescriptor("application/vnd.oci.image.manifest.v1+json", "sha256:bb", 3, null, null),
        ]);
        Assert.Equal(
            """{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1\u002Bjson","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1\u002Bjson","digest":"sha256:aa","size":12,"artifactType":"application/vnd.example.sbom","annotations":{"z":"1","a":"2"}},{"mediaType":"application/vnd.oci.image.manifest.v1\u002Bjson","digest":"sha256:bb","size":3}]}""",
            JsonSerializer.Serialize(index, ApiJsonContext.Default.ReferrersIndex));
    }

    [Fact]
    public void AnEmptyReferrersIndexHasAnEmptyManifestsArray()
        => Assert.Equal(
            """{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1\u002Bjson","manifests":[]}""",
            JsonSerializer.Serialize(new ReferrersIndex(2, "application/vnd.oci.image.index.v1+json", []), ApiJsonContext.Default.ReferrersIndex));

    [Fact]
    public void TheCatalogListsRepositories()
        => Assert.Equal("""{"repositories":["a/b","c"]}""", JsonSerializer.Serialize(new CatalogPage(["a/b", "c"]), ApiJsonContext.Default.CatalogPage));

    [Fact]
    public void AnAuditLineHasEveryFieldInOrderWithNullsAndALineFeed()
    {
        var e = new RegistryEvent(
            "ev-1",
            new DateTimeOffset(2025, 3, 4, 5, 6, 7, TimeSpan.FromHours(2)).AddTicks(1234567),
            RegistryEvent.Push,
            new EventTarget("application/vnd.oci.image.manifest.v1+json", "sha256:aa", 12, "team/app", null, null, null),
            new EventRequest("r1", "10.0.0.1:5555", "registry", "PUT", "skopeo/1.0"),
            null,
            EventSourceReplica.None,
            3);
        Assert.Equal(
            """{"time":"2025-03-04T03:06:07.1234567Z","action":"push","repository":"team/app","digest":"sha256:aa","tag":null,"mediaType":"application/vnd.oci.image.manifest.v1\u002Bjson","actor":null,"addr":"10.0.0.1:5555","userAgent":"skopeo/1.0","id":"ev-1"}""" + "\n",
            Encoding.UTF8.GetString(AuditLogSubscriber.Line(e)));
    }

    [Fact]
    public void TheGapEventNamesTheRequestedOldestAndLastIds()
        => Assert.Equal("""{"requested":1,"oldest":5,"last":9}""", JsonSerializer.Serialize(new WatchGap(1, 5, 9), ApiJsonContext.Default.WatchGap));

    [Fact]
    public void TheHealthAnswerListsChecksWithOptionalDescriptionAndError()
    {
        var report = new HealthReport(
            new Dictionary<string, HealthReportEntry>
            {
                ["storage"] = new(HealthStatus.Unhealthy, "the storage driver is unreachable", TimeSpan.FromTicks(12345), new IOException("disk gone"), null),
                ["process"] = new(HealthStatus.Healthy, null, TimeSpan.FromMilliseconds(2), null, null),
            },
            TimeSpan.FromMilliseconds(3));
        Assert.Equal(
            """{"status":"Unhealthy","checks":{"storage":{"status":"Unhealthy","description":"the storage driver is unreachable","error":"disk gone","durationMs":1.23},"process":{"status":"Healthy","durationMs":2}}}""",
            JsonSerializer.Serialize(HealthResponseWriter.ToResponse(report), ApiJsonContext.Default.HealthResponse));
    }
}
