using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;
using Registry.Api.Kube;

namespace Registry.Api.Access;

/// <summary>
/// What the users and robots APIs share: who is calling (through <see cref="Authenticator"/>, so
/// every kind of credential works; a bearer token of ours acts as its subject's current policy,
/// as everywhere on <c>/apis</c>), whether they may, reading a bounded JSON body, and the rules
/// for names, groups and passwords.
/// </summary>
public sealed partial class IdentityRequests(Authenticator authenticator, Authorizer authorizer, AccessGate gate)
{
    public const string ApiVersion = "registry/v1";

    /// <summary>The largest request body: a user or robot document is far smaller.</summary>
    public const int MaxBodyBytes = 64 * 1024;

    public const int MaxGroups = 64;

    public const int MinPasswordLength = 8;

    /// <summary>bcrypt reads the first 72 bytes only: a longer password would be cut without a word.</summary>
    public const int MaxPasswordBytes = 72;

    /// <summary>The authenticated caller, or the 401 answer (bad credentials, or none where an account is needed).</summary>
    public async Task<(Caller? Caller, IResult? Error)> AuthenticateAsync(HttpContext context)
    {
        var (proven, _) = await authenticator.AuthenticateAsync(context.Request);
        var caller = proven is null ? null : await gate.ByPolicyAsync(proven);
        if (caller is null || caller.Identity.IsAnonymous)
        {
            return (null, KubeStatus.Unauthorized(caller is null ? "the credentials are not valid" : "this needs credentials: a user's password, a robot's secret or a bearer token")
                .WithHeader("WWW-Authenticate", "Basic realm=\"registry\""));
        }

        return (caller, null);
    }

    public ValueTask<bool> AllowsAsync(Caller caller, AccessItem item) => caller.AllowsAsync(authorizer, item);

    /// <summary>The JSON body as <typeparamref name="T"/>, or the Status answer: 415 (not JSON), 413 (too large), 400 (malformed or unknown fields).</summary>
    public static async Task<(T? Document, IResult? Error)> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> type)
        where T : class
    {
        var request = context.Request;
        if (request.ContentType is not { } contentType || !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return (null, KubeStatus.UnsupportedMediaType("the body must be application/json"));
        }

        if (request.ContentLength > MaxBodyBytes)
        {
            return (null, TooLarge());
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes)
            {
                return (null, TooLarge());
            }

            buffer.Write(chunk, 0, read);
        }

        try
        {
            return JsonSerializer.Deserialize(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), type) is { } document
                ? (document, null)
                : (null, KubeStatus.BadRequest("the body must be a JSON object"));
        }
        catch (JsonException e)
        {
            // The parser's message names the path and field, never a value.
            return (null, KubeStatus.BadRequest($"the body is not a valid document: {e.Message}"));
        }
    }

    /// <summary>An error for a document of another kind or apiVersion, or null.</summary>
    public static IResult? CheckKind(string? apiVersion, string? kind, string expected)
        => (apiVersion is null or ApiVersion) && (kind is null || kind == expected)
            ? null
            : KubeStatus.BadRequest($"expected apiVersion '{ApiVersion}' and kind '{expected}', got '{apiVersion}' and '{kind}'");

    /// <summary>User and robot names: DNS labels (lower case letters, digits and '-', 1 to 63 characters), so a user's name is also a valid namespace.</summary>
    public static bool IsValidName(string? name) => name is { Length: > 0 and <= 63 } && DnsLabel().IsMatch(name);

    /// <summary>A namespace: one repository path component.</summary>
    public static bool IsValidNamespace(string? name) => name is { Length: > 0 and <= 128 } && PathComponent().IsMatch(name);

    /// <summary>A repository name (its path components).</summary>
    public static bool IsValidRepository(string name) => name.Length <= 255 && name.Split('/').All(c => PathComponent().IsMatch(c));

    /// <summary>An error for the groups, or null. Names starting with <c>system:</c> are the registry's own.</summary>
    public static string? GroupsError(IReadOnlyList<string> groups)
        => groups.Count > MaxGroups ? $"at most {MaxGroups} groups"
            : groups.FirstOrDefault(g => g.Length is 0 or > 128 || g.Any(char.IsControl) || BuiltInGroups.IsReserved(g)) is { } bad
                ? $"the group '{(bad.Length > 128 ? bad[..128] + "…" : bad)}' is not allowed: 1 to 128 characters, no control characters, not starting with 'system:'"
                : null;

    /// <summary>An error for a new password, or null; never names the password.</summary>
    public static string? PasswordError(string password)
        => password.Length < MinPasswordLength || Encoding.UTF8.GetByteCount(password) > MaxPasswordBytes
            ? $"the password must have at least {MinPasswordLength} characters and at most {MaxPasswordBytes} bytes (UTF-8)"
            : null;

    public static string Timestamp(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);

    private static KubeStatus TooLarge() => KubeStatus.RequestEntityTooLarge($"the body is larger than {MaxBodyBytes} bytes");

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?\\z")]
    private static partial Regex DnsLabel();

    [GeneratedRegex("^[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*\\z")]
    private static partial Regex PathComponent();
}
