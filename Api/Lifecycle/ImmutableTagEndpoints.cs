using System.Text.Json;
using Registry.Api.Access;
using Registry.Api.Kube;
using Registry.Grains;

namespace Registry.Api.Lifecycle;

/// <summary>
/// The immutable tag rules of a namespace (<c>/apis/registry/v1/namespaces/{ns}/immutabletagrules</c>)
/// and of the registry (<c>/apis/registry/v1/immutabletagrules</c>): read, replaced as a whole
/// (PUT, with <c>metadata.resourceVersion</c> for optimistic concurrency) or removed (DELETE).
/// Every verb needs the admin permission of the scope; with access control off, anyone may.
/// </summary>
public sealed class ImmutableTagEndpoints(PolicyCache cache, IGrainFactory grains)
{
    /// <summary>The largest body accepted: the most rules with the longest globs fit.</summary>
    public const int MaxBodyBytes = 64 * 1024;

    public static void Map(IEndpointRouteBuilder app, ImmutableTagEndpoints endpoints)
    {
        const string Namespaced = $"{PolicyEndpoints.Prefix}/namespaces/{{ns}}/{ImmutableTagDocuments.Name}";
        const string Registry = $"{PolicyEndpoints.Prefix}/{ImmutableTagDocuments.Name}";
        app.MapGet(Namespaced, (HttpContext c, string ns) => endpoints.GetAsync(c, ns)).RequireRegistryCaller();
        app.MapPut(Namespaced, (HttpContext c, string ns) => endpoints.PutAsync(c, ns)).RequireRegistryCaller().DisableAntiforgery();
        app.MapDelete(Namespaced, (HttpContext c, string ns) => endpoints.DeleteAsync(c, ns)).RequireRegistryCaller();
        app.MapGet(Registry, (Delegate)((HttpContext c) => endpoints.GetAsync(c, null))).RequireRegistryCaller();
        app.MapPut(Registry, (Delegate)((HttpContext c) => endpoints.PutAsync(c, null))).RequireRegistryCaller().DisableAntiforgery();
        app.MapDelete(Registry, (Delegate)((HttpContext c) => endpoints.DeleteAsync(c, null))).RequireRegistryCaller();
    }

    public async Task<IResult> GetAsync(HttpContext context, string? ns)
    {
        if (await RefusalAsync(context, ns) is { } refused)
        {
            return refused;
        }

        var policy = await cache.GetAsync(ns ?? ScopePolicy.RegistryScope);
        return TypedResults.Json(ImmutableTagDocuments.Render(policy.TagRules, ns), ImmutableTagJsonContext.Default.ImmutableTagRulesDocument);
    }

    public async Task<IResult> PutAsync(HttpContext context, string? ns)
    {
        if (await RefusalAsync(context, ns) is { } refused)
        {
            return refused;
        }

        var (document, error) = await Services.KubeRequestBodies.ReadDocumentAsync(context.Request, ImmutableTagJsonContext.Default.ImmutableTagRulesDocument, MaxBodyBytes, context.RequestAborted);
        var (rules, version, invalid) = error is null ? ImmutableTagDocuments.Validate(document, ns) : default;
        if ((error ?? invalid) is { } bad)
        {
            return bad;
        }

        var result = await grains.GetGrain<IPolicyGrain>(ns ?? ScopePolicy.RegistryScope).PutImmutableTagRules(rules!, version);
        cache.PutTagRules(result.Policy);
        return result.Outcome switch
        {
            PolicyOutcome.Done => TypedResults.Json(ImmutableTagDocuments.Render(result.Policy.TagRules, ns), ImmutableTagJsonContext.Default.ImmutableTagRulesDocument),
            PolicyOutcome.Conflict => KubeStatus.Conflict($"the immutable tag rules of {Where(ns)} were changed since resourceVersion {version}: read them again and apply your change to the latest version"),
            _ => KubeStatus.Invalid($"{Where(ns)} holds at most {ImmutableTagRule.MaxRules} immutable tag rules"),
        };
    }

    public async Task<IResult> DeleteAsync(HttpContext context, string? ns)
    {
        if (await RefusalAsync(context, ns) is { } refused)
        {
            return refused;
        }

        if (PolicyDocuments.ParseVersion(context.Request.Query["resourceVersion"]) is not { } version)
        {
            return KubeStatus.BadRequest("resourceVersion is not one this registry gave");
        }

        var grain = grains.GetGrain<IPolicyGrain>(ns ?? ScopePolicy.RegistryScope);
        if ((await grain.Get()).TagRules.Rules.Count == 0)
        {
            return KubeStatus.NotFound($"{Where(ns)} has no immutable tag rules");
        }

        var result = await grain.PutImmutableTagRules([], version);
        cache.PutTagRules(result.Policy);
        return result.Outcome == PolicyOutcome.Done
            ? TypedResults.Json(new StatusDocument("Status", "v1", new StatusMeta(), "Success", $"the immutable tag rules of {Where(ns)} deleted", "", 200), Json.ApiJsonContext.Default.StatusDocument)
            : KubeStatus.Conflict($"the immutable tag rules of {Where(ns)} were changed since resourceVersion {version}");
    }

    private static string Where(string? ns) => ns is null ? "the registry" : $"namespace '{ns}'";

    /// <summary>Null when the caller is an admin of the scope (or access control is off); the Status to answer otherwise, or for a name no namespace can have.</summary>
    private static async ValueTask<IResult?> RefusalAsync(HttpContext context, string? ns)
    {
        if (ns is not null && !PolicyNames.IsNamespace(ns))
        {
            return KubeStatus.BadRequest($"'{(ns.Length > 140 ? ns[..140] : ns)}' is not a namespace name (a repository name component)");
        }

        return await ApiAccess.AuthorizeAsync(context, ns is null ? AccessItem.WholeRegistry(Actions.Admin) : AccessItem.Namespace(ns, Actions.Admin));
    }
}
