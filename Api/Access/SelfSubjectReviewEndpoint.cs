using System.Text.Json.Serialization;
using Registry.Api.Json;

namespace Registry.Api.Access;

/// <summary>
/// "Who am I": <c>GET|POST /apis/registry/v1/selfsubjectreviews</c> answers the caller's identity
/// as the registry's policy sees it, in the shape of Kubernetes' <c>SelfSubjectReview</c>. The
/// same answer is served at <c>/apis/authentication.k8s.io/v1/selfsubjectreviews</c>, so
/// <c>kubectl auth whoami --server=… --token=…</c> works against the registry. Any caller may
/// ask, anonymous included (it is told it is anonymous); bad credentials are 401.
/// </summary>
public static class SelfSubjectReviewEndpoint
{
    public const string Path = "/apis/registry/v1/selfsubjectreviews";
    public const string KubernetesPath = "/apis/authentication.k8s.io/v1/selfsubjectreviews";

    /// <summary>The <c>extra</c> key set (to <c>"true"</c>) for a registry admin.</summary>
    public const string AdminExtra = "registry/admin";

    public static void Map(WebApplication app)
    {
        foreach (var (path, apiVersion) in new[] { (Path, "registry/v1"), (KubernetesPath, "authentication.k8s.io/v1") })
        {
            app.MapMethods(path, ["GET", "POST"], (HttpContext context) => Answer(context, apiVersion)).RequireRegistryCaller().DisableAntiforgery();
        }
    }

    private static IResult Answer(HttpContext context, string apiVersion)
    {
        var identity = ApiAccess.CallerOf(context)?.Identity ?? Identity.Anonymous;
        var info = new SelfUserInfo(
            identity.IsAnonymous ? BuiltInGroups.Anonymous : identity.Name,
            [.. identity.Groups],
            identity.IsAdmin ? new Dictionary<string, string[]> { [AdminExtra] = ["true"] } : null);
        var review = new SelfSubjectReview("SelfSubjectReview", apiVersion, new SelfReviewMeta(DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture)), new SelfReviewStatus(info));
        return TypedResults.Json(review, ApiJsonContext.Default.SelfSubjectReview, statusCode: HttpMethods.IsPost(context.Request.Method) ? 201 : 200);
    }
}

public sealed record SelfSubjectReview(
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("apiVersion")] string ApiVersion,
    [property: JsonPropertyName("metadata")] SelfReviewMeta Metadata,
    [property: JsonPropertyName("status")] SelfReviewStatus Status);

public sealed record SelfReviewMeta([property: JsonPropertyName("creationTimestamp")] string CreationTimestamp);

public sealed record SelfReviewStatus([property: JsonPropertyName("userInfo")] SelfUserInfo UserInfo);

public sealed record SelfUserInfo(
    [property: JsonPropertyName("username")] string Username,
    [property: JsonPropertyName("groups")] IReadOnlyList<string> Groups,
    [property: JsonPropertyName("extra"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyDictionary<string, string[]>? Extra);
