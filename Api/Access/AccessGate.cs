using System.Security.Claims;
using System.Text;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Registry.Api.Oci;
using Registry.Grains;

namespace Registry.Api.Access;

/// <summary>
/// Authenticates every <c>/v2</c> request (a bearer token of ours, Basic credentials, or
/// anonymous) and checks it has the access its route needs; answers 401 with the token flow's
/// challenge, 403 for an account that is known but not allowed, 429 after too many failed logins.
/// Every refusal of a request that presented credentials is audited.
/// </summary>
public sealed class AccessGate(IOptions<AccessOptions> options, Authenticator authenticator, CredentialVerifier credentials, Authorizer authorizer, LoginThrottle throttle, AccessAudit audit, SubjectIdentities subjects)
{
    private const string MountRefusedKey = "registry.access.mount-refused";
    private const string CallerKey = "registry.access.caller";
    private readonly AccessOptions _options = options.Value;

    public bool Enabled => _options.Enabled;

    public string Service => _options.Service;

    /// <summary>Whether the gate refused the <c>from</c> of a cross-repository mount: the upload then starts as a normal one (202), never 201.</summary>
    public static bool MountRefused(HttpContext context) => context.Items.ContainsKey(MountRefusedKey);

    /// <summary>The caller the gate admitted; null with access control off.</summary>
    public static Caller? CallerOf(HttpContext context) => context.Items[CallerKey] as Caller;

    /// <summary>
    /// Whether the admitted request also has <paramref name="item"/> (a handler's further check,
    /// such as overwrite for a tag that exists); always true with access control off.
    /// </summary>
    public ValueTask<bool> AllowsAsync(HttpContext context, AccessItem item)
        => CallerOf(context) is { } caller ? caller.AllowsAsync(authorizer, item) : ValueTask.FromResult(true);

    /// <summary>
    /// Reads the request's credentials under the failed-login limit: Basic credentials of an
    /// account or address with too many recent failures are not even checked (<see cref="GateAuthentication.RetryAfter"/>),
    /// and a Basic login that fails counts against both.
    /// </summary>
    public async ValueTask<GateAuthentication> AuthenticateAsync(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        var login = header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase);
        var basic = login ? Authenticator.ParseBasic(header) : null;
        var claimed = basic?.User;
        var address = context.Connection.RemoteIpAddress;
        if (login && await throttle.RetryAfterAsync(claimed, address, basic is var (user, password) && credentials.Remembered(user, password)) is { } wait)
        {
            return new(null, null, claimed, wait);
        }

        var (caller, error) = await authenticator.AuthenticateAsync(context.Request);
        if (caller is null && login)
        {
            await throttle.FailedAsync(claimed, address);
        }

        return new(caller, error, caller?.Identity.Name is { Length: > 0 } name ? name : claimed, null);
    }

    /// <summary>
    /// The caller of an <c>/apis</c> request: a bearer token proves who it is, but what it may do
    /// there is the subject's current policy, not the token's grant: an account's groups and admin
    /// flag, a robot's confinement and actions, an external user's groups (<see cref="SubjectIdentities"/>).
    /// Null when the token's subject no longer exists (a deleted account, a revoked or expired robot).
    /// </summary>
    public async ValueTask<Caller?> ByPolicyAsync(Caller caller)
    {
        if (caller.Token is not { } token)
        {
            return caller;
        }

        return caller.Identity.IsAnonymous ? Caller.Anonymous
            : await subjects.ResolveAsync(token) is { } identity ? new Caller(identity, null, ByToken: true)
            : null;
    }

    /// <summary>Null when the request may go on; otherwise the answer.</summary>
    public async ValueTask<IResult?> CheckAsync(HttpContext context, OciPath route)
    {
        if (!_options.Enabled)
        {
            return null;
        }

        var required = RequiredAccess.Of(route, context.Request.Method);
        var authentication = await AuthenticateAsync(context);
        if (authentication.RetryAfter is { } wait)
        {
            await audit.RecordAsync(context, AccessAudit.LoginThrottled, 429, authentication.Name, Scopes(required), "too_many_failures");
            return OciErrorCode.TooManyRequests.WithDetail("too many failed logins; retry later").WithHeader("Retry-After", LoginThrottle.Seconds(wait));
        }

        if (authentication.Caller is not { } caller)
        {
            await audit.RecordAsync(context, AccessAudit.Unauthorized, 401, authentication.Name, Scopes(required), authentication.Error ?? Authenticator.InvalidToken);
            return Challenge(context, required, authentication.Error);
        }

        // GET /v2/ asks for no access, but callers without credentials are sent into the token flow there.
        var admitted = !(route.Route == OciRoute.Base && caller == Caller.Anonymous);
        foreach (var item in required)
        {
            admitted = admitted && await caller.AllowsAsync(authorizer, item);
        }

        if (!admitted)
        {
            return await RefuseAsync(context, caller, required);
        }

        await AdmitAsync(context, caller, route);
        return null;
    }

    /// <summary>The answer to an authenticated caller that lacks <paramref name="required"/>: the token flow's 401 for tokens and anonymous, 403 for an account.</summary>
    public async ValueTask<IResult> RefuseAsync(HttpContext context, Caller caller, IReadOnlyList<AccessItem> required)
    {
        if (caller.Identity.IsAnonymous && caller.Token is null)
        {
            return Challenge(context, required, error: null);
        }

        if (caller.Token is not null)
        {
            await audit.RecordAsync(context, AccessAudit.Unauthorized, 401, NameOf(caller), Scopes(required), "insufficient_scope");
            return Challenge(context, required, "insufficient_scope");
        }

        await audit.RecordAsync(context, AccessAudit.Denied, 403, NameOf(caller), Scopes(required), "forbidden");
        return OciErrorCode.Denied.WithDetail($"'{caller.Identity.Name}' may not {string.Join(" and ", required.SelectMany(r => r.Actions))} {string.Join(", ", required.Select(r => r.Name))}");
    }

    /// <summary>The realm of the challenge: configured, or this host's token endpoint.</summary>
    public string Realm(HttpContext context)
        => _options.Realm.Length > 0 ? _options.Realm : $"{context.Request.Scheme}://{context.Request.Host}{AccessEndpoints.TokenPath}";

    /// <summary>The bearer challenge of the token flow: realm, service, the scopes needed and the error, if any.</summary>
    public string ChallengeHeader(HttpContext context, IReadOnlyList<AccessItem> required, string? error)
    {
        var challenge = new StringBuilder($"Bearer realm=\"{Realm(context)}\",service=\"{_options.Service}\"");
        if (required.Count > 0)
        {
            challenge.Append(",scope=\"").AppendJoin(' ', required).Append('"');
        }

        if (error is not null)
        {
            challenge.Append(",error=\"").Append(error).Append('"');
        }

        return challenge.ToString();
    }

    public static string Scopes(IReadOnlyList<AccessItem> required) => string.Join(' ', required);

    private static string? NameOf(Caller caller) => caller.Identity.IsAnonymous ? null : caller.Identity.Name;

    private async ValueTask AdmitAsync(HttpContext context, Caller caller, OciPath route)
    {
        Admit(context, caller);
        if (route.Route == OciRoute.UploadStart && context.Request.Query["from"] is [{ Length: > 0 } from]
            && !await caller.AllowsAsync(authorizer, AccessItem.Repo(from, Actions.Pull)))
        {
            context.Items[MountRefusedKey] = true;
        }
    }

    /// <summary>Records the admitted caller for the handlers (<see cref="CallerOf"/>) and as the request's user.</summary>
    public static void Admit(HttpContext context, Caller caller)
    {
        context.Items[CallerKey] = caller;
        if (caller.Identity.Name is { Length: > 0 } subject)
        {
            context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, subject)], "registry"));
        }
    }

    /// <summary>
    /// Makes the admitted caller the actor of the changes the request makes (the events' <c>actor.name</c>).
    /// Call it from the handler itself, not from an async method it awaits: the Orleans request
    /// context is an async-local, and a value set inside an awaited async method is gone when it returns.
    /// </summary>
    public static void StampActor(HttpContext context)
    {
        if (CallerOf(context)?.Identity.Name is { Length: > 0 } subject && RequestContext.Get(ChangeOrigin.ContextKey) is ChangeOrigin origin)
        {
            RequestContext.Set(ChangeOrigin.ContextKey, origin with { Actor = subject });
        }
    }

    private OciError Challenge(HttpContext context, IReadOnlyList<AccessItem> required, string? error)
        => OciErrorCode.Unauthorized.WithDetail(required.Count > 0 ? string.Join(" ", required) : null).WithHeader("WWW-Authenticate", ChallengeHeader(context, required, error));
}

/// <summary>The outcome of <see cref="AccessGate.AuthenticateAsync"/>.</summary>
/// <param name="Caller">Who, or null when credentials were presented and failed, or the login was throttled.</param>
/// <param name="Error">Why the credentials failed (the challenge's <c>error</c>).</param>
/// <param name="Name">The name proven, or claimed by failed Basic credentials (for the audit); null for anonymous.</param>
/// <param name="RetryAfter">Set when the login was not checked: too many recent failures.</param>
public readonly record struct GateAuthentication(Caller? Caller, string? Error, string? Name, TimeSpan? RetryAfter);

/// <summary>The access each <c>/v2</c> request needs, as the reference registry asks it.</summary>
public static class RequiredAccess
{
    /// <remarks>
    /// The catalog asks for no access at the gate: its handler lists what the caller may pull
    /// (all of it for a <c>registry:catalog:*</c> token or an admin).
    /// </remarks>
    public static IReadOnlyList<AccessItem> Of(OciPath route, string method) => (route.Route, method) switch
    {
        (OciRoute.Base or OciRoute.NotFound or OciRoute.Catalog, _) => [],
        (_, "GET" or "HEAD") => [AccessItem.Repo(route.Name, Actions.Pull)],
        (OciRoute.Manifest or OciRoute.Blob, "DELETE") => [AccessItem.Repo(route.Name, Actions.Delete)],
        _ => [AccessItem.Repo(route.Name, Actions.Pull, Actions.Push)],
    };
}
