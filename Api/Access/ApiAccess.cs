using Registry.Api.Kube;

namespace Registry.Api.Access;

/// <summary>
/// Access for the registry's own HTTP APIs (<c>/apis/...</c>, <c>/metrics</c>): one
/// authentication for all of them, failures answered as Kubernetes <c>Status</c>.
/// </summary>
/// <remarks>
/// To protect an endpoint of yours:
/// <code>
/// app.MapGet("/apis/registry/v1/things", Handler).RequireRegistryCaller();
///
/// static async Task&lt;IResult&gt; Handler(HttpContext context, string ns)
/// {
///     if (await ApiAccess.AuthorizeAsync(context, AccessItem.Namespace(ns, Actions.Admin)) is { } refused)
///     {
///         return refused;   // 401 + challenge for anonymous, 403 for a known caller; audited
///     }
///
///     var caller = ApiAccess.CallerOf(context);   // who; null with access control off
///     ...
/// }
/// </code>
/// <see cref="RequireRegistryCaller"/> adds an endpoint filter that authenticates the request
/// (Basic, a bearer token from <c>/auth/token</c>, or anonymous) under the failed-login limit:
/// bad credentials are 401 with a <c>WWW-Authenticate</c> challenge, throttled logins 429 with
/// <c>Retry-After</c>. Here a bearer token only proves who the caller is: what it may do is its
/// subject's current policy (an account's groups and admin flag, a robot's confinement, an
/// external user's groups: <see cref="SubjectIdentities"/>), not the token's grant, so
/// <c>kubectl --token=&lt;token&gt;</c> acts as the account, robot or external user it was issued to. With access
/// control off the filter admits everything and <see cref="AuthorizeAsync"/> allows everything.
/// Endpoint filters run only for route handlers: map a delegate (as above, or a method group cast
/// to <c>Func&lt;HttpContext, Task&gt;</c>), not a <c>RequestDelegate</c>, or the filter is skipped.
/// The actor of changes an <c>/apis</c> endpoint makes is not set by the filter (there is no
/// change origin on <c>/apis</c> yet); such an endpoint sets one itself.
/// </remarks>
public sealed class ApiAccess(AccessGate gate, Authorizer authorizer, AccessAudit audit)
{
    /// <summary>The caller the filter admitted; null with access control off.</summary>
    public static Caller? CallerOf(HttpContext context) => AccessGate.CallerOf(context);

    /// <summary>Null when the admitted caller has every item of <paramref name="required"/>; otherwise the Status to answer (401 for anonymous, 403 for a known caller).</summary>
    public static ValueTask<KubeStatus?> AuthorizeAsync(HttpContext context, params AccessItem[] required)
        => context.RequestServices.GetRequiredService<ApiAccess>().CheckAsync(context, required);

    /// <summary>Whether the admitted caller has <paramref name="item"/> (for filtering what an answer shows); true with access control off.</summary>
    public static ValueTask<bool> AllowsAsync(HttpContext context, AccessItem item)
        => CallerOf(context) is { } caller ? context.RequestServices.GetRequiredService<Authorizer>().AllowsAsync(caller.Identity, item) : ValueTask.FromResult(true);

    /// <summary>Authenticates the request; null when it may go on (the caller is then <see cref="CallerOf"/>).</summary>
    public async ValueTask<KubeStatus?> AuthenticateAsync(HttpContext context)
    {
        if (!gate.Enabled)
        {
            return null;
        }

        var authentication = await gate.AuthenticateAsync(context);
        if (authentication.RetryAfter is { } wait)
        {
            await audit.RecordAsync(context, AccessAudit.LoginThrottled, 429, authentication.Name, "", "too_many_failures");
            return KubeStatus.TooManyRequests("too many failed logins; retry later").WithHeader("Retry-After", LoginThrottle.Seconds(wait));
        }

        var caller = authentication.Caller is { } proven ? await gate.ByPolicyAsync(proven) : null;
        if (caller is null)
        {
            await audit.RecordAsync(context, AccessAudit.Unauthorized, 401, authentication.Name, "", authentication.Error ?? Authenticator.InvalidToken);
            return KubeStatus.Unauthorized("the credentials are not valid (or the token's account or robot no longer exists)")
                .WithHeader("WWW-Authenticate", gate.ChallengeHeader(context, [], Authenticator.InvalidToken));
        }

        AccessGate.Admit(context, caller);
        return null;
    }

    /// <summary>Null when the admitted caller has every item of <paramref name="required"/>; otherwise the Status to answer.</summary>
    public async ValueTask<KubeStatus?> CheckAsync(HttpContext context, IReadOnlyList<AccessItem> required)
    {
        if (CallerOf(context) is not { } caller)
        {
            return null;
        }

        foreach (var item in required)
        {
            if (!await authorizer.AllowsAsync(caller.Identity, item))
            {
                return await RefuseAsync(context, caller, required);
            }
        }

        return null;
    }

    /// <summary>401 with the token flow's challenge for anonymous, 403 for a known caller; audited.</summary>
    public async ValueTask<KubeStatus> RefuseAsync(HttpContext context, Caller caller, IReadOnlyList<AccessItem> required)
    {
        var scopes = AccessGate.Scopes(required);
        if (caller.Identity.IsAnonymous)
        {
            return KubeStatus.Unauthorized($"authentication required for {scopes}")
                .WithHeader("WWW-Authenticate", gate.ChallengeHeader(context, required, error: null));
        }

        await audit.RecordAsync(context, AccessAudit.Denied, 403, caller.Identity.Name, scopes, "forbidden");
        return KubeStatus.Forbidden($"'{caller.Identity.Name}' may not {scopes}");
    }

    /// <summary>The endpoint filter of <see cref="RequireRegistryCaller"/>.</summary>
    internal sealed class Filter(ApiAccess access) : IEndpointFilter
    {
        public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
            => await access.AuthenticateAsync(context.HttpContext) is { } refused ? refused : await next(context);
    }
}

public static class ApiAccessExtensions
{
    /// <summary>Authenticates every request of the endpoint as <see cref="ApiAccess"/> describes; the handler then authorizes with <see cref="ApiAccess.AuthorizeAsync"/>.</summary>
    public static TBuilder RequireRegistryCaller<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
        => builder.AddEndpointFilter<TBuilder, ApiAccess.Filter>();
}
