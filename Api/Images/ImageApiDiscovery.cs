using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Registry.Api.Images;

/// <summary>
/// What kubectl asks before anything else: <c>/api</c> (the core group, whose only resource
/// served is <see cref="NamespaceResources"/>), <c>/apis</c>, the group and its resources, and <c>/version</c>. Answered in the
/// legacy (unaggregated) format: kubectl asks for the aggregated one first and falls back when
/// the answer is plain <c>application/json</c>.
/// </summary>
public static class ImageApiDiscovery
{
    private static readonly string[] ReadVerbs = ["get", "list"];

    public static readonly ApiGroup Group = new(
        "APIGroup",
        "v1",
        ImageObjects.Group,
        [new GroupVersion(ImageObjects.ApiVersion, "v1")],
        new GroupVersion(ImageObjects.ApiVersion, "v1"));

    public static readonly ApiResourceList Resources = new(
        "APIResourceList",
        "v1",
        ImageObjects.ApiVersion,
        [
            new("imagestreams", "imagestream", true, "ImageStream", ["get", "list", "watch", "create", "update", "patch", "delete"], ["is"], ["all"]),
            new("imagestreamtags", "imagestreamtag", true, "ImageStreamTag", ["get", "list", "create", "update", "patch", "delete"], ["istag"]),
            new("imagestreamimages", "imagestreamimage", true, "ImageStreamImage", ["get"], ["isimage"]),
            new("imagestreams/layers", "", true, "ImageStreamLayers", ["get"]),
            new("imagestreammappings", "imagestreammapping", true, "ImageStreamMapping", ["create"]),
            new("images", "image", false, "Image", ["get", "list", "watch"]),
        ]);

    public static void Map(WebApplication app)
    {
        app.MapGet("/api", (HttpContext context) => Json(new ApiVersions("APIVersions", ["v1"], [new ServerAddressByClientCidr("0.0.0.0/0", context.Request.Host.Value ?? "")]), ImageApiJsonContext.Default.ApiVersions));
        app.MapGet("/apis", () => Json(new ApiGroupList("APIGroupList", "v1", [Group]), ImageApiJsonContext.Default.ApiGroupList));
        app.MapGet("/version", () => Json(Version, ImageApiJsonContext.Default.VersionInfo));
    }

    /// <summary>The Kubernetes version the served API corresponds to, so kubectl's version skew check stays quiet.</summary>
    private static readonly VersionInfo Version = new("1", "32", "v1.32.0", "", "clean", "1970-01-01T00:00:00Z", "", "dotnet", $"{Environment.OSVersion.Platform.ToString().ToLowerInvariant()}/{System.Runtime.InteropServices.RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant()}");

    public static IResult Json<T>(T value, JsonTypeInfo<T> type)
        => Results.Bytes(JsonSerializer.SerializeToUtf8Bytes(value, type), "application/json");
}
