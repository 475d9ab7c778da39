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
public sealed class AccessGate(IOptions<AccessOptions> options, TokenService tokens, CredentialVerifier credentials, Authorizer authorizer)
{
    private const string MountRefusedKey = "registry.access.mount-refused";
    private const string DecisionKey = "registry.access.decision";
    private readonly AccessOptions _options = options.Value;

    public bool Enabled => _options.Enabled;

    /// <summary>Whether the gate refused the <c>from</c> of a cross-repository mount: the upload then starts as a normal one (202), never 201.</summary>
    public static bool MountRefused(HttpContext context) => context.Items.ContainsKey(MountRefusedKey);

    /// <summary>
    /// Whether the admitted request also has <paramref name="item"/> (a handler's further check,
    /// such as overwrite for a tag that exists); always true with access control off.
    /// </summary>
    public static bool Allows(HttpContext context, AccessItem item)
        => context.Items[DecisionKey] is not Func<AccessItem, bool> decide || decide(item);

    /// <summary>Null when the request may go on; otherwise the answer.</summary>
    public async ValueTask<IResult?> CheckAsync(HttpContext context, OciPath route)
    {
        if (!_options.Enabled)
        {
            return null;
        }

        var required = RequiredAccess.Of(route, context.Request.Method);
        var mountFrom = route.Route == OciRoute.UploadStart && context.Request.Query["from"] is [{ Length: > 0 } from] ? AccessItem.Repo(from, Actions.Pull) : null;
        var header = context.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var grant = await tokens.VerifyAsync(header["Bearer ".Length..].Trim());
            if (grant is null)
            {
                return Challenge(context, required, "invalid_token");
            }

            if (!required.All(grant.Covers))
            {
                return Challenge(context, required, "insufficient_scope");
            }

            Admit(context, grant.Subject, grant.Covers, mountFrom);
            return null;
        }

        var identity = Identity.Anonymous;
        if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            if (ParseBasic(header) is not var (user, password) || await credentials.VerifyAsync(user, password) is not { } known)
            {
                return Challenge(context, required, "invalid_token");
            }

            identity = known;
        }

        // GET /v2/ asks for no access, but anonymous callers are sent into the token flow there.
        if ((route.Route == OciRoute.Base && identity.IsAnonymous) || !required.All(r => authorizer.Allows(identity, r)))
        {
            return identity.IsAnonymous
                ? Challenge(context, required, error: null)
                : OciErrorCode.Denied.WithDetail($"'{identity.Name}' may not {string.Join(" and ", required.SelectMany(r => r.Actions))} {string.Join(", ", required.Select(r => r.Name))}");
        }

        Admit(context, identity.Name, item => authorizer.Allows(identity, item), mountFrom);
        return null;
    }

    /// <summary>The user and password of a Basic header, or null when it is malformed.</summary>
    public static (string User, string Password)? ParseBasic(string header)
    {
        try
        {
            var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header["Basic ".Length..].Trim()));
            var colon = decoded.IndexOf(':', StringComparison.Ordinal);
            return colon > 0 ? (decoded[..colon], decoded[(colon + 1)..]) : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>The realm of the challenge: configured, or this host's token endpoint.</summary>
    public string Realm(HttpContext context)
        => _options.Realm.Length > 0 ? _options.Realm : $"{context.Request.Scheme}://{context.Request.Host}{AccessEndpoints.TokenPath}";

    private static void Admit(HttpContext context, string subject, Func<AccessItem, bool> allows, AccessItem? mountFrom)
    {
        context.Items[DecisionKey] = allows;
        if (mountFrom is not null && !allows(mountFrom))
        {
            context.Items[MountRefusedKey] = true;
        }

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
