using System.Globalization;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Primitives;
using Registry.Api.Json;
using Registry.Api.Oci;

namespace Registry.Api.Access;

/// <summary>
/// The token endpoint of the Docker/OCI token flow: <c>GET /auth/token</c> (Basic credentials or
/// anonymous) and <c>POST /auth/token</c> (OAuth2 form: <c>grant_type=password</c> or
/// <c>refresh_token</c>). Both grant the intersection of what was asked and what is allowed; a
/// partial grant is not an error.
/// </summary>
public sealed class AccessEndpoints(TokenService tokens, CredentialVerifier credentials, Authorizer authorizer, LoginThrottle throttle, AccessAudit audit)
{
    public const string TokenPath = "/auth/token";

    public async Task<IResult> GetTokenAsync(HttpContext context)
    {
        var query = context.Request.Query;
        var identity = Identity.Anonymous;
        var header = context.Request.Headers.Authorization.ToString();
        if (header.Length > 0)
        {
            var basic = Authenticator.ParseBasic(header);
            var claimed = basic?.User;
            if (await ThrottledAsync(context, claimed, basic is var (name, secret) && credentials.Remembered(name, secret)) is { } throttled)
            {
                return throttled;
            }

            if (!header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)
                || Authenticator.ParseBasic(header) is not var (user, password)
                || await credentials.VerifyAsync(user, password) is not { } known)
            {
                return await FailedAsync(context, claimed, query["scope"]);
            }

            identity = known;
        }

        return await AnswerAsync(identity, query["scope"], offline: query["offline_token"] == "true", oauth: false);
    }

    public async Task<IResult> PostTokenAsync(HttpContext context)
    {
        if (!context.Request.HasFormContentType)
        {
            return OciErrorCode.ScopeInvalid.WithDetail("the token endpoint takes a form (application/x-www-form-urlencoded)");
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var grantType = form["grant_type"].ToString();
        if (grantType is not ("password" or "refresh_token"))
        {
            return OciErrorCode.ScopeInvalid.WithDetail("grant_type must be password or refresh_token");
        }

        // A refresh token names no account before it is verified: it counts against the address only.
        var claimed = grantType == "password" ? form["username"].ToString() : null;
        if (await ThrottledAsync(context, claimed, claimed is not null && credentials.Remembered(claimed, form["password"].ToString())) is { } throttled)
        {
            return throttled;
        }

        var identity = grantType == "password"
            ? await credentials.VerifyAsync(form["username"].ToString(), form["password"].ToString())
            : await tokens.VerifyRefreshAsync(form["refresh_token"].ToString()) is var (user, fingerprint)
                ? await credentials.VerifyRefreshAsync(user, fingerprint)
                : null;
        return identity is null
            ? await FailedAsync(context, claimed, form["scope"])
            : await AnswerAsync(identity, form["scope"], offline: form["access_type"] == "offline" || form["grant_type"] == "refresh_token", oauth: true);
    }

    /// <summary>429 when the account or the client address had too many failed logins lately; <paramref name="remembered"/>: the credentials passed a check here lately.</summary>
    private async ValueTask<IResult?> ThrottledAsync(HttpContext context, string? account, bool remembered)
    {
        if (await throttle.RetryAfterAsync(account, context.Connection.RemoteIpAddress, remembered) is not { } wait)
        {
            return null;
        }

        await audit.RecordAsync(context, AccessAudit.LoginThrottled, 429, account, "", "too_many_failures");
        return OciErrorCode.TooManyRequests.WithDetail("too many failed logins; retry later").WithHeader("Retry-After", LoginThrottle.Seconds(wait));
    }

    /// <summary>A failed login: counted against the account and the address, audited, answered 401.</summary>
    private async ValueTask<IResult> FailedAsync(HttpContext context, string? account, StringValues scopes)
    {
        await throttle.FailedAsync(account, context.Connection.RemoteIpAddress);
        await audit.RecordAsync(context, AccessAudit.LoginFailed, 401, account, string.Join(' ', scopes.Where(s => s is not null)), "bad_credentials");
        return BadCredentials();
    }

    private async Task<IResult> AnswerAsync(Identity identity, StringValues scopes, bool offline, bool oauth)
    {
        if (AccessItem.ParseAll(scopes) is not { } requested)
        {
            return OciErrorCode.ScopeInvalid.WithDetail("a scope is 'type:name:action[,action]', e.g. 'repository:team/app:pull,push'");
        }

        // Clients ask for pull,push and never for overwrite: a push grant carries it where allowed,
        // so re-pushing a tag works for whoever may move it.
        var granted = new List<AccessItem>();
        foreach (var item in requested)
        {
            var asked = item.Actions.Contains(Actions.Push) ? item with { Actions = [.. item.Actions, Actions.Overwrite] } : item;
            if (await authorizer.GrantAsync(identity, asked) is { Count: > 0 } actions)
            {
                granted.Add(item with { Actions = actions });
            }
        }

        var (token, issuedAt, lifetime) = await tokens.IssueAsync(identity, granted);
        var refresh = offline && identity.Kind == IdentityKind.User && identity.Fingerprint is { } fingerprint ? await tokens.IssueRefreshAsync(identity.Name, fingerprint) : null;
        return TypedResults.Json(
            new TokenResponse(
                oauth ? null : token,
                token,
                (int)lifetime.TotalSeconds,
                issuedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
                refresh,
                oauth ? string.Join(' ', granted) : null),
            ApiJsonContext.Default.TokenResponse);
    }

    private static OciError BadCredentials()
        => OciErrorCode.Unauthorized.WithDetail("invalid user name, password or refresh token").WithHeader("WWW-Authenticate", "Basic realm=\"registry\"");
}

/// <summary>
/// The token endpoint's answer; <c>token</c> and <c>access_token</c> are the same, for old and new
/// clients. <c>issued_at</c> is RFC 3339 in UTC with a <c>Z</c>: Go clients parse the raw JSON
/// string, so an escaped <c>+</c> (<c>\u002B</c>) would fail them.
/// </summary>
public sealed record TokenResponse(
    [property: JsonPropertyName("token"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Token,
    [property: JsonPropertyName("access_token")] string AccessToken,
    [property: JsonPropertyName("expires_in")] int ExpiresIn,
    [property: JsonPropertyName("issued_at")] string IssuedAt,
    [property: JsonPropertyName("refresh_token"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? RefreshToken,
    [property: JsonPropertyName("scope"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Scope);
