using System.Text;

namespace Registry.Api.Access;

/// <summary>
/// The authenticated caller of one request: who it is, and, when it came with one of our bearer
/// tokens, the grant that token carries (the token, not the current policy, decides then).
/// </summary>
/// <param name="ByToken">A token of ours proved the identity, also when <c>/apis</c> replaced its grant by the subject's current policy (<see cref="AccessGate.ByPolicyAsync"/>): what needs the password itself can tell.</param>
public sealed record Caller(Identity Identity, TokenGrant? Token, bool ByToken = false)
{
    public static readonly Caller Anonymous = new(Identity.Anonymous, null);

    /// <summary>Whether the caller has every action of <paramref name="item"/>.</summary>
    public ValueTask<bool> AllowsAsync(Authorizer authorizer, AccessItem item)
        => Token is { } token ? ValueTask.FromResult(token.Covers(item)) : authorizer.AllowsAsync(Identity, item);
}

/// <summary>The outcome of reading a request's credentials: a caller, or the reason none was proven.</summary>
/// <remarks><paramref name="Caller"/> is null exactly when credentials were presented and failed; <paramref name="Error"/> then says how (the challenge's <c>error</c>).</remarks>
public readonly record struct Authentication(Caller? Caller, string? Error)
{
    public static readonly Authentication Anonymous = new(Access.Caller.Anonymous, null);

    public static Authentication Failed(string error) => new(null, error);
}

/// <summary>
/// Reads the credentials of any HTTP request of the registry (<c>/v2</c>, <c>/apis</c>, the token
/// endpoint): a bearer token (ours, a robot's secret, or an ID token of the configured OIDC
/// issuer), Basic credentials (see <see cref="CredentialVerifier"/>), or none (anonymous). Every
/// API authenticates through here, so a kind of credential added here works everywhere.
/// </summary>
public sealed class Authenticator(TokenService tokens, CredentialVerifier credentials, RobotVerifier robots, OidcVerifier oidc)
{
    public const string InvalidToken = "invalid_token";

    public async ValueTask<Authentication> AuthenticateAsync(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.Length == 0)
        {
            return Authentication.Anonymous;
        }

        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var token = header["Bearer ".Length..].Trim();
            if (tokens.Remembered(token) is { } remembered)
            {
                // Our own token, verified before: no parsing to tell which issuer it is from.
                return new(new Caller(Identity.OfToken(remembered.Subject), remembered), null);
            }

            if (token.StartsWith(RobotSecret.Prefix, StringComparison.Ordinal))
            {
                // A robot's secret as a bearer token (kubectl --token, CI): the robot's own rights decide.
                return await robots.VerifyAsync(null, token) is { } robot ? new(new Caller(robot, null), null) : Authentication.Failed(InvalidToken);
            }

            if (oidc.Claims(token))
            {
                return await oidc.VerifyAsync(token) is { } external ? new(new Caller(external, null), null) : Authentication.Failed(InvalidToken);
            }

            return await tokens.VerifyAsync(token) is { } grant
                ? new(new Caller(Identity.OfToken(grant.Subject), grant), null)
                : Authentication.Failed(InvalidToken);
        }

        if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)
            && ParseBasic(header) is var (user, password)
            && await credentials.VerifyAsync(user, password) is { } identity)
        {
            return new(new Caller(identity, null), null);
        }

        return Authentication.Failed(InvalidToken);
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
}
