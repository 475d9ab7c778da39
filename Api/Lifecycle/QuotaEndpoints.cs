using System.Globalization;
using System.Text.Json;
using Registry.Api.Access;
using Registry.Api.Json;
using Registry.Api.Kube;
using Registry.Grains;

namespace Registry.Api.Lifecycle;

/// <summary>
/// <c>/apis/registry/v1/namespaces/{ns}/quota</c>: a namespace's quota and usage (docs/quotas.md).
/// Reading needs pull on the namespace and works without a quota (the usage alone); setting,
/// removing and recounting need <c>namespace:&lt;ns&gt;:admin</c> (a registry admin has it).
/// </summary>
public sealed class QuotaEndpoints(IGrainFactory grains)
{
    public const string Path = "/apis/registry/v1/namespaces/{ns}/quota";

    /// <summary>The largest body accepted: a quota document is a few hundred bytes.</summary>
    public const int MaxBodyBytes = 16 * 1024;

    public static void Map(IEndpointRouteBuilder app, QuotaEndpoints endpoints)
    {
        app.MapGet(Path, (HttpContext c, string ns) => endpoints.GetAsync(c, ns)).RequireRegistryCaller();
        app.MapPut(Path, (HttpContext c, string ns) => endpoints.PutAsync(c, ns)).RequireRegistryCaller().DisableAntiforgery();
        app.MapDelete(Path, (HttpContext c, string ns) => endpoints.DeleteAsync(c, ns)).RequireRegistryCaller();
        app.MapPost(Path + "/recount", (HttpContext c, string ns) => endpoints.RecountAsync(c, ns)).RequireRegistryCaller().DisableAntiforgery();
    }

    public async Task<IResult> GetAsync(HttpContext context, string ns)
    {
        if (await RefusalAsync(context, ns, Actions.Pull) is { } refused)
        {
            return refused;
        }

        return Json(ns, await Usage(ns).GetQuota(), 200);
    }

    public async Task<IResult> PutAsync(HttpContext context, string ns)
    {
        if (await RefusalAsync(context, ns, Actions.Admin) is { } refused)
        {
            return refused;
        }

        var (document, error) = await Services.KubeRequestBodies.ReadDocumentAsync(context.Request, QuotaJsonContext.Default.NamespaceQuotaDocument, MaxBodyBytes, context.RequestAborted);
        var (limits, version, invalid) = error is null ? QuotaDocuments.Validate(document, ns) : default;
        if ((error ?? invalid) is { } bad)
        {
            return bad;
        }

        var usage = Usage(ns);
        var created = (await usage.GetQuota()).Limits is null;
        var change = await usage.PutQuota(limits, version);
        return change.Outcome == QuotaChangeOutcome.Done
            ? Json(ns, change.Quota, created ? 201 : 200)
            : KubeStatus.Conflict($"the quota of namespace '{ns}' was changed since resourceVersion {version}: read it again and apply your change to the latest version");
    }

    public async Task<IResult> DeleteAsync(HttpContext context, string ns)
    {
        if (await RefusalAsync(context, ns, Actions.Admin) is { } refused)
        {
            return refused;
        }

        long? version = null;
        if (context.Request.Query["resourceVersion"].ToString() is { Length: > 0 } text)
        {
            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v))
            {
                return KubeStatus.BadRequest("resourceVersion is not one this registry gave");
            }

            version = v;
        }

        var change = await Usage(ns).PutQuota(null, version);
        return change.Outcome switch
        {
            QuotaChangeOutcome.Done => TypedResults.Json(new StatusDocument("Status", "v1", new StatusMeta(), "Success", $"the quota of namespace '{ns}' was removed", "", 200), ApiJsonContext.Default.StatusDocument),
            QuotaChangeOutcome.Conflict => KubeStatus.Conflict($"the quota of namespace '{ns}' was changed since resourceVersion {version}"),
            _ => KubeStatus.NotFound($"namespace '{ns}' has no quota"),
        };
    }

    /// <summary>Counts the usage again from the repositories and keeps the count (a repair after a crash left it off).</summary>
    public async Task<IResult> RecountAsync(HttpContext context, string ns)
    {
        if (await RefusalAsync(context, ns, Actions.Admin) is { } refused)
        {
            return refused;
        }

        var recount = await Usage(ns).Recount(repair: true);
        return TypedResults.Json(QuotaDocuments.Render(ns, recount), QuotaJsonContext.Default.QuotaRecountDocument);
    }

    private INamespaceUsageGrain Usage(string ns) => grains.GetGrain<INamespaceUsageGrain>(ns);

    private static async Task<KubeStatus?> RefusalAsync(HttpContext context, string ns, string action)
    {
        if (await ApiAccess.AuthorizeAsync(context, AccessItem.Namespace(ns, action)) is { } refused)
        {
            return refused;
        }

        return PolicyNames.IsNamespace(ns)
            ? null
            : KubeStatus.BadRequest($"'{ns}' is not a namespace name (lowercase letters and digits, separated by '.', '_', '__' or dashes; at most 128 characters)");
    }

    private static IResult Json(string ns, NamespaceQuota quota, int status)
        => TypedResults.Json(QuotaDocuments.Render(ns, quota), QuotaJsonContext.Default.NamespaceQuotaDocument, statusCode: status);
}
