using System.Globalization;
using System.Text.Json;
using Registry.Api.Access;
using Registry.Api.Kube;
using Registry.Api.Services;
using Registry.Grains;

namespace Registry.Api.Lifecycle;

/// <summary>
/// The retention policies of a namespace (<c>/apis/registry/v1/namespaces/{ns}/retentionpolicies</c>)
/// and of the registry (<c>/apis/registry/v1/retentionpolicies</c>): listed, read, created or
/// replaced (PUT, with <c>metadata.resourceVersion</c> for optimistic concurrency), deleted, and
/// run (<c>POST …/{name}/run?dryRun=false</c>; a dry run unless told otherwise). Every verb needs
/// the admin permission of the scope; with access control off, anyone may.
/// </summary>
public sealed class RetentionEndpoints(IGrainFactory grains, RetentionRunner runner, TimeProvider time, Microsoft.Extensions.Options.IOptions<ApiOptions> options)
{
    /// <summary>The largest body accepted: the most globs of the longest length fit.</summary>
    public const int MaxBodyBytes = 64 * 1024;

    /// <summary>The most repositories a run's answer lists; the rest are counted in <c>repositoriesOmitted</c>.</summary>
    public const int MaxListedRepositories = 1000;

    public static void Map(IEndpointRouteBuilder app, RetentionEndpoints endpoints)
    {
        const string Namespaced = $"{PolicyEndpoints.Prefix}/namespaces/{{ns}}/{RetentionDocuments.Resource}";
        const string Registry = $"{PolicyEndpoints.Prefix}/{RetentionDocuments.Resource}";
        app.MapGet(Namespaced, (HttpContext c, string ns) => endpoints.ListAsync(c, ns)).RequireRegistryCaller();
        app.MapGet(Namespaced + "/{name}", (HttpContext c, string ns, string name) => endpoints.GetAsync(c, ns, name)).RequireRegistryCaller();
        app.MapPut(Namespaced + "/{name}", (HttpContext c, string ns, string name) => endpoints.PutAsync(c, ns, name)).RequireRegistryCaller().DisableAntiforgery();
        app.MapDelete(Namespaced + "/{name}", (HttpContext c, string ns, string name) => endpoints.DeleteAsync(c, ns, name)).RequireRegistryCaller();
        app.MapPost(Namespaced + "/{name}/run", (HttpContext c, string ns, string name) => endpoints.RunAsync(c, ns, name)).RequireRegistryCaller().DisableAntiforgery();
        app.MapGet(Registry, (Delegate)((HttpContext c) => endpoints.ListAsync(c, null))).RequireRegistryCaller();
        app.MapGet(Registry + "/{name}", (HttpContext c, string name) => endpoints.GetAsync(c, null, name)).RequireRegistryCaller();
        app.MapPut(Registry + "/{name}", (HttpContext c, string name) => endpoints.PutAsync(c, null, name)).RequireRegistryCaller().DisableAntiforgery();
        app.MapDelete(Registry + "/{name}", (HttpContext c, string name) => endpoints.DeleteAsync(c, null, name)).RequireRegistryCaller();
        app.MapPost(Registry + "/{name}/run", (HttpContext c, string name) => endpoints.RunAsync(c, null, name)).RequireRegistryCaller().DisableAntiforgery();
    }

    public async Task<IResult> ListAsync(HttpContext context, string? ns)
    {
        if (await RefusalAsync(context, ns, null) is { } refused)
        {
            return refused;
        }

        var policies = await Grain(ns).List();
        var version = policies.Count == 0 ? null : policies.Max(p => p.ResourceVersion).ToString(CultureInfo.InvariantCulture);
        var next = await NextRunsAsync(ns, policies);
        return TypedResults.Json(
            new RetentionPolicyListDocument(PolicyDocuments.ApiVersion, RetentionDocuments.Kind + "List", new RetentionListMeta(version), [.. policies.Select(p => RetentionDocuments.Render(p, ns, next.GetValueOrDefault(p.Name)))]),
            RetentionJsonContext.Default.RetentionPolicyListDocument);
    }

    public async Task<IResult> GetAsync(HttpContext context, string? ns, string name)
    {
        if (await RefusalAsync(context, ns, name) is { } refused)
        {
            return refused;
        }

        if (await Grain(ns).Get(name) is not { } policy)
        {
            return NotFound(ns, name);
        }

        var next = await NextRunsAsync(ns, [policy]);
        return TypedResults.Json(RetentionDocuments.Render(policy, ns, next.GetValueOrDefault(name)), RetentionJsonContext.Default.RetentionPolicyDocument);
    }

    public async Task<IResult> PutAsync(HttpContext context, string? ns, string name)
    {
        if (await RefusalAsync(context, ns, name) is { } refused)
        {
            return refused;
        }

        var (document, error) = await ReadAsync(context);
        var (repositories, rules, version, invalid) = error is null ? RetentionDocuments.Validate(document, ns, name, options.Value.Retention.MinimumScheduleInterval) : default;
        if ((error ?? invalid) is { } bad)
        {
            return bad;
        }

        var change = await Grain(ns).Put(name, repositories!, rules!, version);
        return change.Outcome switch
        {
            RetentionPolicyOutcome.Done => TypedResults.Json(RetentionDocuments.Render(change.Policy!, ns), RetentionJsonContext.Default.RetentionPolicyDocument),
            RetentionPolicyOutcome.Conflict => KubeStatus.Conflict($"retention policy '{name}' of {Where(ns)} was changed (or deleted) since resourceVersion {version}: read it again and apply your change to the latest version"),
            _ => KubeStatus.Invalid($"{Where(ns)} holds at most {RetentionPolicy.MaxPolicies} retention policies"),
        };
    }

    public async Task<IResult> DeleteAsync(HttpContext context, string? ns, string name)
    {
        if (await RefusalAsync(context, ns, name) is { } refused)
        {
            return refused;
        }

        if (PolicyDocuments.ParseVersion(context.Request.Query["resourceVersion"]) is not { } version)
        {
            return KubeStatus.BadRequest("resourceVersion is not one this registry gave");
        }

        var change = await Grain(ns).Delete(name, version);
        return change.Outcome switch
        {
            RetentionPolicyOutcome.Done => TypedResults.Json(new StatusDocument("Status", "v1", new StatusMeta(), "Success", $"retention policy '{name}' of {Where(ns)} deleted", "", 200), Json.ApiJsonContext.Default.StatusDocument),
            RetentionPolicyOutcome.NotFound => NotFound(ns, name),
            _ => KubeStatus.Conflict($"retention policy '{name}' of {Where(ns)} was changed since resourceVersion {version}"),
        };
    }

    /// <summary>Runs a policy now: a dry run unless <c>dryRun=false</c>; answers the <c>RetentionRun</c>.</summary>
    public async Task<IResult> RunAsync(HttpContext context, string? ns, string name)
    {
        if (await RefusalAsync(context, ns, name) is { } refused)
        {
            return refused;
        }

        var dryRunText = context.Request.Query["dryRun"].ToString();
        if (dryRunText is not ("" or "true" or "false"))
        {
            return KubeStatus.BadRequest($"dryRun must be true or false, not '{(dryRunText.Length > 20 ? dryRunText[..20] : dryRunText)}'");
        }

        if (await Grain(ns).Get(name) is not { } policy)
        {
            return NotFound(ns, name);
        }

        var dryRun = dryRunText != "false";
        var report = await runner.RunAsync(ns, policy, dryRun, time.GetUtcNow(), context.RequestAborted);
        return TypedResults.Json(Render(ns, policy.Name, dryRun, report), RetentionJsonContext.Default.RetentionRunDocument);
    }

    public static RetentionRunDocument Render(string? ns, string policy, bool dryRun, RetentionRunReport report)
    {
        var listed = report.Changed.Take(MaxListedRepositories).Select(c => new RetentionRepositoryDocument(
            c.Repository,
            [.. c.Result.Tags.Select(t => new RetentionTagDocument(t.Tag, t.Digest))],
            [.. c.Result.History.Select(h => new RetentionHistoryDocument(h.Tag, h.Digest, PolicyDocuments.Timestamp(h.Created)))],
            [.. c.Result.Manifests],
            c.Result.UntaggedSkipped ? true : null));
        var status = new RetentionRunStatus(
            PolicyDocuments.Timestamp(report.StartedAt),
            PolicyDocuments.Timestamp(report.FinishedAt),
            report.RepositoriesExamined,
            report.Changed.Count(c => !c.Result.IsEmpty),
            report.Changed.Sum(c => c.Result.Tags.Count),
            report.Changed.Sum(c => c.Result.History.Count),
            report.Changed.Sum(c => c.Result.Manifests.Count),
            Math.Max(0, report.Changed.Count - MaxListedRepositories),
            [.. listed]);
        return new RetentionRunDocument(PolicyDocuments.ApiVersion, "RetentionRun", new ObjectMeta(policy, ns), new RetentionRunSpec(policy, dryRun), status);
    }

    /// <summary>When the scheduled ones of <paramref name="policies"/> are next due (no grain call when none is scheduled).</summary>
    private async Task<Dictionary<string, DateTimeOffset?>> NextRunsAsync(string? ns, IReadOnlyList<RetentionPolicy> policies)
    {
        if (!policies.Any(p => p.Rules.ScheduleInterval is not null))
        {
            return [];
        }

        var scope = ns ?? ScopePolicy.RegistryScope;
        return (await grains.GetGrain<IRetentionScheduleGrain>(0).List(scope))
            .ToDictionary(e => e.Name, e => (DateTimeOffset?)e.NextRunAt, StringComparer.Ordinal);
    }

    private IRetentionPolicyGrain Grain(string? ns) => grains.GetGrain<IRetentionPolicyGrain>(ns ?? ScopePolicy.RegistryScope);

    private static KubeStatus NotFound(string? ns, string name) => KubeStatus.NotFound($"{Where(ns)} has no retention policy '{name}'");

    private static string Where(string? ns) => ns is null ? "the registry" : $"namespace '{ns}'";

    /// <summary>Null when the caller is an admin of the scope (or access control is off); the Status to answer otherwise, or for a name no namespace or policy can have.</summary>
    private static async ValueTask<IResult?> RefusalAsync(HttpContext context, string? ns, string? name)
    {
        if (ns is not null && !PolicyNames.IsNamespace(ns))
        {
            return KubeStatus.BadRequest($"'{(ns.Length > 140 ? ns[..140] : ns)}' is not a namespace name (a repository name component)");
        }

        if (await ApiAccess.AuthorizeAsync(context, ns is null ? AccessItem.WholeRegistry(Actions.Admin) : AccessItem.Namespace(ns, Actions.Admin)) is { } refused)
        {
            return refused;
        }

        return name is not null && (!PolicyNames.IsObjectName(name) || name.Length > ImmutableTagRule.MaxLength)
            ? KubeStatus.BadRequest($"'{(name.Length > 140 ? name[..140] : name)}' is not a policy name: a lowercase DNS-1123 name (a-z, 0-9, '-', '.') of at most {ImmutableTagRule.MaxLength} characters")
            : null;
    }

    /// <summary>Reads a JSON body of at most <see cref="MaxBodyBytes"/>; a Status when it is too large or not JSON of that shape.</summary>
    private static async Task<(RetentionPolicyDocument? Document, KubeStatus? Error)> ReadAsync(HttpContext context)
    {
        var request = context.Request;
        if (request.ContentType is { } contentType && !contentType.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            return (null, KubeStatus.UnsupportedMediaType($"the body must be application/json, not {contentType}"));
        }

        var tooLarge = KubeStatus.RequestEntityTooLarge($"the body may be at most {MaxBodyBytes} bytes");
        if (request.ContentLength > MaxBodyBytes)
        {
            return (null, tooLarge);
        }

        if (await RequestBodies.ReadBoundedAsync(request.Body, MaxBodyBytes, context.RequestAborted) is not { } body)
        {
            return (null, tooLarge);
        }

        try
        {
            return (JsonSerializer.Deserialize(body, RetentionJsonContext.Default.RetentionPolicyDocument), null);
        }
        catch (JsonException e)
        {
            return (null, KubeStatus.BadRequest($"the body is not valid JSON of the expected shape: {e.Message}"));
        }
    }
}
