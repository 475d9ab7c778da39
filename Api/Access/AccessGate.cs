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
/// challenge, or 403 for an account that is known but not allowed.
/// </summary>
public sealed class AccessGate(IOptions<AccessOptions> options, Authenticator authenticator, Authorizer authorizer)
{
    private const string MountRefusedKey = "registry.access.mount-refused";
    private const string CallerKey = "registry.access.caller";
    private readonly AccessOptions _options = options.Value;

    public bool Enabled => _options.Enabled;

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

    /// <summary>Null when the request may go on; otherwise the answer.</summary>
    public async ValueTask<IResult?> CheckAsync(HttpContext context, OciPath route)
    {
        if (!_options.Enabled)
        {
            return null;
        }

        var required = RequiredAccess.Of(route, context.Request.Method);
        var (caller, error) = await authenticator.AuthenticateAsync(context.Request);
        if (caller is null)
        {
            return Challenge(context, required, error);
        }

        // GET /v2/ asks for no access, but callers without credentials are sent into the token flow there.
        var admitted = !(route.Route == OciRoute.Base && caller == Caller.Anonymous);
        foreach (var item in required)
        {
            admitted = admitted && await caller.AllowsAsync(authorizer, item);
        }

        if (!admitted)
        {
            return caller.Token is not null ? Challenge(context, required, "insufficient_scope")
                : caller.Identity.IsAnonymous ? Challenge(context, required, error: null)
                : OciErrorCode.Denied.WithDetail($"'{caller.Identity.Name}' may not {string.Join(" and ", required.SelectMany(r => r.Actions))} {string.Join(", ", required.Select(r => r.Name))}");
        }

        await AdmitAsync(context, caller, route);
        return null;
    }

    /// <summary>The realm of the challenge: configured, or this host's token endpoint.</summary>
    public string Realm(HttpContext context)
        => _options.Realm.Length > 0 ? _options.Realm : $"{context.Request.Scheme}://{context.Request.Host}{AccessEndpoints.TokenPath}";

    private async ValueTask AdmitAsync(HttpContext context, Caller caller, OciPath route)
    {
        context.Items[CallerKey] = caller;
        if (route.Route == OciRoute.UploadStart && context.Request.Query["from"] is [{ Length: > 0 } from]
            && !await caller.AllowsAsync(authorizer, AccessItem.Repo(from, Actions.Pull)))
        {
            context.Items[MountRefusedKey] = true;
        }

        var subject = caller.Identity.Name;
        if (subject.Length > 0)
        {
            context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, subject)], "registry"));
            if (RequestContext.Get(ChangeOrigin.ContextKey) is ChangeOrigin origin)
            {
                RequestContext.Set(ChangeOrigin.ContextKey, origin with { Actor = subject });
            }
        }
    }

    private OciError Challenge(HttpContext context, IReadOnlyList<AccessItem> required, string? error)
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

        return OciErrorCode.Unauthorized.WithDetail(required.Count > 0 ? string.Join(" ", required) : null).WithHeader("WWW-Authenticate", challenge.ToString());
    }
}

/// <summary>The access each <c>/v2</c> request needs, as the reference registry asks it.</summary>
public static class RequiredAccess
{
    public static IReadOnlyList<AccessItem> Of(OciPath route, string method) => (route.Route, method) switch
    {
        (OciRoute.Base or OciRoute.NotFound, _) => [],
        (OciRoute.Catalog, _) => [AccessItem.Catalog],
        (_, "GET" or "HEAD") => [AccessItem.Repo(route.Name, Actions.Pull)],
        (OciRoute.Manifest or OciRoute.Blob, "DELETE") => [AccessItem.Repo(route.Name, Actions.Delete)],
        _ => [AccessItem.Repo(route.Name, Actions.Pull, Actions.Push)],
    };
}
