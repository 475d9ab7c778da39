using System.Text.Json.Serialization;
using Registry.Api.Json;
using Registry.Api.Oci;

namespace Registry.Api.Access;

/// <summary>The token endpoint of the Docker/OCI token flow, <c>GET /auth/token</c>.</summary>
public sealed class AccessEndpoints(TokenService tokens, CredentialVerifier credentials, Authorizer authorizer)
{
    public const string TokenPath = "/auth/token";

    /// <summary>
    /// Basic credentials (or none: anonymous) and any number of <c>scope</c> parameters; grants
    /// the intersection of what was asked and what is allowed — a partial grant is not an error.
    /// </summary>
    public async Task<IResult> TokenAsync(HttpContext context)
    {
        var identity = Identity.Anonymous;
        var header = context.Request.Headers.Authorization.ToString();
        if (header.Length > 0)
        {
            if (!header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)
                || AccessGate.ParseBasic(header) is not var (user, password)
                || await credentials.VerifyAsync(user, password) is not { } known)
            {
                return OciErrorCode.Unauthorized.WithDetail("invalid user name or password").WithHeader("WWW-Authenticate", "Basic realm=\"registry\"");
            }

            identity = known;
        }

        if (AccessItem.ParseAll(context.Request.Query["scope"]) is not { } requested)
        {
            return OciErrorCode.ScopeInvalid.WithDetail("a scope is 'type:name:action[,action]', e.g. 'repository:team/app:pull,push'");
        }

        // Clients ask for pull,push and never for overwrite: a push grant carries it where allowed,
        // so re-pushing a tag works for whoever may move it.
        var granted = requested
            .Select(item => item.Actions.Contains(Actions.Push) ? item with { Actions = [.. item.Actions, Actions.Overwrite] } : item)
            .Select(item => item with { Actions = authorizer.Grant(identity, item) })
            .Where(item => item.Actions.Count > 0)
            .ToList();
        var (token, issuedAt, lifetime) = await tokens.IssueAsync(identity.Name, granted);
        return TypedResults.Json(new TokenResponse(token, token, (int)lifetime.TotalSeconds, issuedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture)), ApiJsonContext.Default.TokenResponse);
    }
}

/// <summary>
/// The token endpoint's answer; <c>token</c> and <c>access_token</c> are the same, for old and new
/// clients. <c>issued_at</c> is RFC 3339 in UTC with a <c>Z</c>: Go clients parse the raw JSON
/// string, so an escaped <c>+</c> (<c>+</c>) would fail them.
/// </summary>
public sealed record TokenResponse(
    [property: JsonPropertyName("token")] string Token,
    [property: JsonPropertyName("access_token")] string AccessToken,
    [property: JsonPropertyName("expires_in")] int ExpiresIn,
    [property: JsonPropertyName("issued_at")] string IssuedAt);
