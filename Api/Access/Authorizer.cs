using Microsoft.Extensions.Options;
using Registry.Grains;

namespace Registry.Api.Access;

/// <summary>
/// Decides which actions an identity has on a resource, from the role bindings at registry scope,
/// in the resource's namespace and on its repository (<see cref="PolicyEvaluator"/>), read from
/// the process's <see cref="PolicyCache"/>: a decision on cached policy completes synchronously.
/// A registry admin may do everything; an account owns the namespace named after it; an
/// identity's confinement (a robot's repositories) is never widened by a binding.
/// </summary>
public sealed partial class Authorizer(PolicyCache cache, IGrainFactory grains, IOptions<AccessOptions> options, ILogger<Authorizer> logger)
{
    private readonly bool _createOnPush = options.Value.CreateNamespaceOnPush;

    /// <summary>The actions of <paramref name="requested"/> that <paramref name="identity"/> has: the intersection, never an error.</summary>
    /// <remarks>Asynchronous because policy lives in grains; a cached answer completes synchronously.</remarks>
    public ValueTask<IReadOnlyList<string>> GrantAsync(Identity identity, AccessItem requested)
    {
        if (identity.IsConfinedFrom(requested))
        {
            return ValueTask.FromResult<IReadOnlyList<string>>([]);
        }

        if (identity.OwnActions is not null)
        {
            // A robot: the actions it was created with, on its repositories; no binding widens them.
            var own = identity.OwnActionsOn(requested);
            return ValueTask.FromResult<IReadOnlyList<string>>([.. requested.Actions.Where(a => own.Contains(a, StringComparer.Ordinal))]);
        }

        if (identity.IsAdmin)
        {
            return ValueTask.FromResult(PolicyEvaluator.Grant(requested, Permissions.Owner));
        }

        var scope = ScopeOf(requested);
        if (cache.TryGet(ScopePolicy.RegistryScope, out var registry))
        {
            ScopePolicy? ns = null;
            if ((scope is null || cache.TryGet(scope, out ns)) && !MayCreateOnPush(identity, requested, registry, ns))
            {
                return ValueTask.FromResult(PolicyEvaluator.Grant(requested, PolicyEvaluator.Evaluate(identity, requested, registry, ns)));
            }
        }

        return new(GrantSlowlyAsync(identity, requested, scope));
    }

    /// <summary>Whether <paramref name="identity"/> has every action of <paramref name="required"/>.</summary>
    public async ValueTask<bool> AllowsAsync(Identity identity, AccessItem required) => (await GrantAsync(identity, required)).Count == required.Actions.Count;

    /// <summary>Whether <paramref name="identity"/> may create namespaces (a registry admin, or <c>namespace-creator</c> or <c>admin</c> at registry scope).</summary>
    public async ValueTask<bool> MayCreateNamespacesAsync(Identity identity)
        => identity.IsAdmin || PolicyEvaluator.MayCreateNamespaces(identity, await cache.GetAsync(ScopePolicy.RegistryScope));

    /// <summary>A repository's namespace: its first path component.</summary>
    public static string NamespaceOf(string repository)
    {
        var slash = repository.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 ? repository[..slash] : repository;
    }

    private static string? ScopeOf(AccessItem item) => item.Type switch
    {
        AccessItem.Repository => NamespaceOf(item.Name),
        AccessItem.NamespaceType => item.Name,
        _ => null,
    };

    private async Task<IReadOnlyList<string>> GrantSlowlyAsync(Identity identity, AccessItem requested, string? scope)
    {
        var registry = await cache.GetAsync(ScopePolicy.RegistryScope);
        var ns = scope is null ? null : await cache.GetAsync(scope);
        if (MayCreateOnPush(identity, requested, registry, ns))
        {
            ns = await CreateOnPushAsync(identity, ns!);
        }

        return PolicyEvaluator.Grant(requested, PolicyEvaluator.Evaluate(identity, requested, registry, ns));
    }

    /// <summary>A push into a namespace that does not exist creates it, when the pusher may create namespaces and the registry allows it.</summary>
    private bool MayCreateOnPush(Identity identity, AccessItem requested, ScopePolicy registry, ScopePolicy? ns)
        => _createOnPush && ns is { Exists: false } && requested.Type == AccessItem.Repository && requested.Actions.Contains(Actions.Push)
            && ns.Scope != identity.Name && PolicyNames.IsNamespace(ns.Scope) && PolicyEvaluator.MayCreateNamespaces(identity, registry);

    private async Task<ScopePolicy> CreateOnPushAsync(Identity identity, ScopePolicy ns)
    {
        var result = await grains.GetGrain<IPolicyGrain>(ns.Scope).Create(identity.Name);
        cache.Put(result.Policy);
        if (result.Outcome == PolicyOutcome.Done)
        {
            LogCreatedOnPush(logger, ns.Scope, identity.Name);
        }

        return result.Policy;
    }

    [LoggerMessage(62, LogLevel.Information, "Created the namespace {Namespace} for the first push of {Identity}, its admin")]
    private static partial void LogCreatedOnPush(ILogger logger, string @namespace, string identity);
}
