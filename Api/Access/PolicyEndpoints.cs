using System.Text.Json;
using Microsoft.Extensions.Options;
using Registry.Api.Kube;
using Registry.Grains;

namespace Registry.Api.Access;

/// <summary>
/// The access management API under <c>/apis/registry/v1</c>, in Kubernetes' conventions:
/// namespaces, their role bindings and registry-scope (cluster) role bindings. Managing a
/// namespace's bindings needs <c>namespace:&lt;ns&gt;:admin</c>; cluster bindings need a registry
/// admin; creating namespaces a registry admin or <c>namespace-creator</c>.
/// </summary>
public sealed class PolicyEndpoints(Authenticator authenticator, Authorizer authorizer, PolicyCache cache, IGrainFactory grains, AccessGate gate, IOptions<AccessOptions> options)
{
    public const string Prefix = "/apis/registry/v1";

    /// <summary>The largest body accepted: a binding of the most subjects fits many times over.</summary>
    public const int MaxBodyBytes = 64 * 1024;

    public static void Map(IEndpointRouteBuilder app, PolicyEndpoints endpoints)
    {
        app.MapGet($"{Prefix}/namespaces", (Delegate)endpoints.ListNamespacesAsync);
        app.MapPost($"{Prefix}/namespaces", (Delegate)endpoints.CreateNamespaceAsync).DisableAntiforgery();
        app.MapGet($"{Prefix}/namespaces/{{ns}}", endpoints.GetNamespaceAsync);
        app.MapDelete($"{Prefix}/namespaces/{{ns}}", endpoints.DeleteNamespaceAsync);
        app.MapGet($"{Prefix}/namespaces/{{ns}}/rolebindings", (HttpContext c, string ns) => endpoints.ListBindingsAsync(c, ns));
        app.MapPost($"{Prefix}/namespaces/{{ns}}/rolebindings", (HttpContext c, string ns) => endpoints.PutBindingAsync(c, ns, null)).DisableAntiforgery();
        app.MapGet($"{Prefix}/namespaces/{{ns}}/rolebindings/{{name}}", (HttpContext c, string ns, string name) => endpoints.GetBindingAsync(c, ns, name));
        app.MapPut($"{Prefix}/namespaces/{{ns}}/rolebindings/{{name}}", (HttpContext c, string ns, string name) => endpoints.PutBindingAsync(c, ns, name)).DisableAntiforgery();
        app.MapDelete($"{Prefix}/namespaces/{{ns}}/rolebindings/{{name}}", (HttpContext c, string ns, string name) => endpoints.DeleteBindingAsync(c, ns, name));
        app.MapGet($"{Prefix}/clusterrolebindings", (Delegate)((HttpContext c) => endpoints.ListBindingsAsync(c, null)));
        app.MapPost($"{Prefix}/clusterrolebindings", (Delegate)((HttpContext c) => endpoints.PutBindingAsync(c, null, null))).DisableAntiforgery();
        app.MapGet($"{Prefix}/clusterrolebindings/{{name}}", (HttpContext c, string name) => endpoints.GetBindingAsync(c, null, name));
        app.MapPut($"{Prefix}/clusterrolebindings/{{name}}", (HttpContext c, string name) => endpoints.PutBindingAsync(c, null, name)).DisableAntiforgery();
        app.MapDelete($"{Prefix}/clusterrolebindings/{{name}}", (HttpContext c, string name) => endpoints.DeleteBindingAsync(c, null, name));
    }

    public async Task<IResult> ListNamespacesAsync(HttpContext context)
    {
        if (await AuthenticateAsync(context) is not { } caller)
        {
            return Challenge(context, "credentials are invalid");
        }

        var items = new List<NamespaceDocument>();
        long version = 0;
        foreach (var name in await grains.GetGrain<INamespaceDirectoryGrain>(0).List())
        {
            var policy = await cache.GetAsync(name);
            if (policy.Exists && (await authorizer.GrantAsync(caller.Identity, AccessItem.Namespace(name, Actions.Pull))).Count > 0)
            {
                items.Add(PolicyDocuments.Render(policy));
                version = Math.Max(version, policy.Version);
            }
        }

        return TypedResults.Json(new NamespaceListDocument(PolicyDocuments.ApiVersion, "NamespaceList", new ListMeta(version.ToString(System.Globalization.CultureInfo.InvariantCulture)), items), PolicyJsonContext.Default.NamespaceListDocument);
    }

    public async Task<IResult> CreateNamespaceAsync(HttpContext context)
    {
        var (caller, denied) = await AuthorizeAsync(context, null, "create namespaces");
        if (denied is not null)
        {
            return denied;
        }

        var (document, error) = await Services.KubeRequestBodies.ReadDocumentAsync(context.Request, PolicyJsonContext.Default.NamespaceDocument, MaxBodyBytes, context.RequestAborted);
        if (error is not null)
        {
            return error;
        }

        if (document is null || document.Kind is not (null or "Namespace") || document.ApiVersion is not (null or PolicyDocuments.ApiVersion))
        {
            return KubeStatus.BadRequest($"expected apiVersion {PolicyDocuments.ApiVersion} and kind Namespace");
        }

        var name = document.Metadata?.Name ?? "";
        if (!PolicyNames.IsNamespace(name))
        {
            return KubeStatus.Invalid($"metadata.name '{name}' must be a repository name component (lowercase letters and digits, separated by '.', '_', '__' or dashes; at most 128 characters)");
        }

        var result = await grains.GetGrain<IPolicyGrain>(name).Create(caller!.Identity.Name);
        cache.Put(result.Policy);
        return result.Outcome == PolicyOutcome.Done
            ? TypedResults.Json(PolicyDocuments.Render(result.Policy), PolicyJsonContext.Default.NamespaceDocument, statusCode: 201)
            : KubeStatus.AlreadyExists($"namespace '{name}' already exists");
    }

    public async Task<IResult> GetNamespaceAsync(HttpContext context, string ns)
    {
        var (_, denied) = await AuthorizeAsync(context, AccessItem.Namespace(ns, Actions.Pull), $"read namespace {ns}");
        if (denied is not null)
        {
            return denied;
        }

        var policy = await cache.GetAsync(ns);
        return policy.Exists ? TypedResults.Json(PolicyDocuments.Render(policy), PolicyJsonContext.Default.NamespaceDocument) : KubeStatus.NotFound($"namespace '{ns}' not found");
    }

    public async Task<IResult> DeleteNamespaceAsync(HttpContext context, string ns)
    {
        var (_, denied) = await AuthorizeAsync(context, AccessItem.Namespace(ns, Actions.Admin), $"delete namespace {ns}");
        if (denied is not null)
        {
            return denied;
        }

        var result = await grains.GetGrain<IPolicyGrain>(ns).Delete(0);
        cache.Put(result.Policy);
        return result.Outcome == PolicyOutcome.Done
            ? TypedResults.Json(PolicyDocuments.Render(result.Policy), PolicyJsonContext.Default.NamespaceDocument)
            : KubeStatus.NotFound($"namespace '{ns}' not found");
    }

    public async Task<IResult> ListBindingsAsync(HttpContext context, string? ns)
    {
        var (_, denied) = await AuthorizeAsync(context, AdminOf(ns), $"manage the role bindings of {Where(ns)}");
        if (denied is not null)
        {
            return denied;
        }

        var policy = await cache.GetAsync(ns ?? ScopePolicy.RegistryScope);
        var items = policy.Bindings.Select(b => PolicyDocuments.Render(b, ns)).ToList();
        return TypedResults.Json(new RoleBindingListDocument(PolicyDocuments.ApiVersion, ns is null ? "ClusterRoleBindingList" : "RoleBindingList", new ListMeta(policy.Version.ToString(System.Globalization.CultureInfo.InvariantCulture)), items), PolicyJsonContext.Default.RoleBindingListDocument);
    }

    public async Task<IResult> GetBindingAsync(HttpContext context, string? ns, string name)
    {
        var (_, denied) = await AuthorizeAsync(context, AdminOf(ns), $"manage the role bindings of {Where(ns)}");
        if (denied is not null)
        {
            return denied;
        }

        var policy = await cache.GetAsync(ns ?? ScopePolicy.RegistryScope);
        return policy.Bindings.FirstOrDefault(b => b.Name == name) is { } binding
            ? TypedResults.Json(PolicyDocuments.Render(binding, ns), PolicyJsonContext.Default.RoleBindingDocument)
            : KubeStatus.NotFound($"role binding '{name}' not found in {Where(ns)}");
    }

    /// <summary>Creates (<paramref name="name"/> null: POST) or replaces (PUT) a binding.</summary>
    public async Task<IResult> PutBindingAsync(HttpContext context, string? ns, string? name)
    {
        var (caller, denied) = await AuthorizeAsync(context, AdminOf(ns), $"manage the role bindings of {Where(ns)}");
        if (denied is not null)
        {
            return denied;
        }

        var (document, error) = await Services.KubeRequestBodies.ReadDocumentAsync(context.Request, PolicyJsonContext.Default.RoleBindingDocument, MaxBodyBytes, context.RequestAborted);
        var (binding, version, invalid) = error is null ? PolicyDocuments.Validate(document, ns, name) : default;
        if ((error ?? invalid) is { } bad)
        {
            return bad;
        }

        var grain = grains.GetGrain<IPolicyGrain>(ns ?? ScopePolicy.RegistryScope);
        var result = await grain.PutBinding(binding!, create: name is null, version);

        // The namespace named after an account is its own even before it is created: its first binding creates it.
        if (result.Outcome == PolicyOutcome.NotFound && !result.Policy.Exists && ns == caller!.Identity.Name)
        {
            cache.Put((await grain.Create(ns)).Policy);
            result = await grain.PutBinding(binding!, create: name is null, version);
        }

        cache.Put(result.Policy);
        return result.Outcome switch
        {
            PolicyOutcome.Done => TypedResults.Json(PolicyDocuments.Render(result.Policy.Bindings.First(b => b.Name == binding!.Name), ns), PolicyJsonContext.Default.RoleBindingDocument, statusCode: name is null ? 201 : 200),
            PolicyOutcome.AlreadyExists => KubeStatus.AlreadyExists($"role binding '{binding!.Name}' already exists in {Where(ns)}"),
            PolicyOutcome.Conflict => KubeStatus.Conflict($"role binding '{binding!.Name}' was changed since resourceVersion {version}: read it again and apply your change to the latest version"),
            PolicyOutcome.TooMany => KubeStatus.Invalid($"{Where(ns)} holds {PolicyGrain.MaxBindings} role bindings, the most it may"),
            _ => KubeStatus.NotFound(result.Policy.Exists ? $"role binding '{binding!.Name}' not found in {Where(ns)}" : $"namespace '{ns}' not found: create it first"),
        };
    }

    public async Task<IResult> DeleteBindingAsync(HttpContext context, string? ns, string name)
    {
        var (_, denied) = await AuthorizeAsync(context, AdminOf(ns), $"manage the role bindings of {Where(ns)}");
        if (denied is not null)
        {
            return denied;
        }

        if (PolicyDocuments.ParseVersion(context.Request.Query["resourceVersion"]) is not { } version)
        {
            return KubeStatus.BadRequest("resourceVersion is not one this registry gave");
        }

        var result = await grains.GetGrain<IPolicyGrain>(ns ?? ScopePolicy.RegistryScope).DeleteBinding(name, version);
        cache.Put(result.Policy);
        return result.Outcome switch
        {
            PolicyOutcome.Done => TypedResults.Json(new StatusDocument("Status", "v1", new StatusMeta(), "Success", $"role binding '{name}' deleted from {Where(ns)}", "", 200), Json.ApiJsonContext.Default.StatusDocument),
            PolicyOutcome.Conflict => KubeStatus.Conflict($"role binding '{name}' was changed since resourceVersion {version}"),
            _ => KubeStatus.NotFound($"role binding '{name}' not found in {Where(ns)}"),
        };
    }

    private static AccessItem AdminOf(string? ns) => ns is null ? AccessItem.WholeRegistry(Actions.Admin) : AccessItem.Namespace(ns, Actions.Admin);

    private static string Where(string? ns) => ns is null ? "the registry" : $"namespace '{ns}'";

    /// <summary>The caller, with a bearer token acting as its subject's current policy (as on every <c>/apis</c> endpoint); null when the credentials fail.</summary>
    private async Task<Caller?> AuthenticateAsync(HttpContext context)
        => (await authenticator.AuthenticateAsync(context.Request)).Caller is { } caller ? await gate.ByPolicyAsync(caller) : null;

    /// <summary>
    /// The caller when it may do what <paramref name="item"/> says (null: create namespaces);
    /// otherwise 401 with a challenge (no or bad credentials, or anonymous) or 403 (known, not allowed).
    /// </summary>
    private async Task<(Caller? Caller, IResult? Denied)> AuthorizeAsync(HttpContext context, AccessItem? item, string what)
    {
        if (await AuthenticateAsync(context) is not { } caller)
        {
            return (null, Challenge(context, "credentials are invalid"));
        }

        var allowed = item is null ? await authorizer.MayCreateNamespacesAsync(caller.Identity) : await authorizer.AllowsAsync(caller.Identity, item);
        if (allowed)
        {
            return (caller, null);
        }

        return (null, caller.Identity.IsAnonymous
            ? Challenge(context, $"anonymous may not {what}: send credentials")
            : KubeStatus.Forbidden($"'{caller.Identity.Name}' may not {what}"));
    }

    private KubeStatus Challenge(HttpContext context, string message)
        => KubeStatus.Unauthorized(message).WithHeader("WWW-Authenticate", $"Bearer realm=\"{gate.Realm(context)}\",service=\"{options.Value.Service}\"");
}
