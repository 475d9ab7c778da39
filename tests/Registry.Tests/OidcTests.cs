using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Registry.Api;
using Registry.Api.Access;

namespace Registry.Tests;

/// <summary>An OIDC issuer's key set (JWKS) served by a small Kestrel app on 127.0.0.1; it counts the fetches.</summary>
public sealed class JwksServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _fetches;

    private JwksServer(WebApplication app, int port)
    {
        _app = app;
        Url = $"http://127.0.0.1:{port}/jwks";
    }

    public string Url { get; }

    public int Fetches => Volatile.Read(ref _fetches);

    /// <summary>The keys served; replaced to rotate.</summary>
    public List<SecurityKey> Keys { get; } = [];

    public static async Task<JwksServer> StartAsync(params SecurityKey[] keys)
    {
        var port = Azurite.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        var server = new JwksServer(app, port);
        server.Keys.AddRange(keys);
        app.MapGet("/jwks", (HttpContext context) =>
        {
            Interlocked.Increment(ref server._fetches);
            return Results.Text(Document([.. server.Keys]), "application/json");
        });
        await app.StartAsync();
        return server;
    }

    /// <summary>The public half of each key as a JWK, by hand so nothing private can slip in.</summary>
    public static string Document(IEnumerable<SecurityKey> keys)
        => JsonSerializer.Serialize(new { keys = keys.Select(Jwk).ToArray() });

    public static Dictionary<string, string> Jwk(SecurityKey key) => key switch
    {
        RsaSecurityKey rsa => rsa.Rsa.ExportParameters(false) is var p
            ? new() { ["kty"] = "RSA", ["kid"] = rsa.KeyId, ["use"] = "sig", ["n"] = Base64UrlEncoder.Encode(p.Modulus), ["e"] = Base64UrlEncoder.Encode(p.Exponent) }
            : throw new InvalidOperationException(),
        ECDsaSecurityKey ec => ec.ECDsa.ExportParameters(false) is var q
            ? new() { ["kty"] = "EC", ["kid"] = ec.KeyId, ["crv"] = "P-256", ["x"] = Base64UrlEncoder.Encode(q.Q.X), ["y"] = Base64UrlEncoder.Encode(q.Q.Y) }
            : throw new InvalidOperationException(),
        _ => throw new ArgumentException("an RSA or EC key", nameof(key)),
    };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>A clock the test moves.</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;

    public override DateTimeOffset GetUtcNow() => Now;
}

/// <summary>The issuer the OIDC tests trust: its keys, and tokens signed with them.</summary>
public static class Issuer
{
    public const string Url = "https://login.example.test/realms/dev";
    public const string Audience = "registry-client";

    public static readonly RsaSecurityKey Rsa = new(RSA.Create(2048)) { KeyId = "rsa-1" };
    public static readonly ECDsaSecurityKey Ec = new(ECDsa.Create(ECCurve.NamedCurves.nistP256)) { KeyId = "ec-1" };

    public static string Token(
        string subject = "alice",
        SecurityKey? key = null,
        string algorithm = SecurityAlgorithms.RsaSha256,
        string issuer = Url,
        string audience = Audience,
        TimeSpan? expiresIn = null,
        TimeSpan? notBeforeIn = null,
        object? groups = null,
        IDictionary<string, object>? header = null)
    {
        var now = DateTime.UtcNow;
        var claims = new Dictionary<string, object> { ["sub"] = subject };
        if (groups is not null)
        {
            claims["groups"] = groups;
        }

        var notBefore = now + (notBeforeIn ?? TimeSpan.FromMinutes(-1));
        // Long enough that theory data, made when tests are discovered, is still valid when a long run reaches them.
        var expires = now + (expiresIn ?? TimeSpan.FromHours(2));
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            IssuedAt = notBefore < expires ? notBefore : expires.AddMinutes(-1),
            NotBefore = notBefore < expires ? notBefore : null,
            Expires = expires,
            Claims = claims,
            SigningCredentials = new SigningCredentials(key ?? Rsa, algorithm),
            AdditionalHeaderClaims = header,
        });
    }

    /// <summary>A token with <c>alg: none</c> and no signature, naming a trusted key.</summary>
    public static string Unsigned()
    {
        var valid = Token();
        var payload = valid.Split('.')[1];
        var head = Base64UrlEncoder.Encode("{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"rsa-1\"}");
        return $"{head}.{payload}.";
    }
}

/// <summary>A registry with access control on that trusts <see cref="Issuer"/>, whose keys a <see cref="JwksServer"/> serves.</summary>
public static class OidcRegistry
{
    private static readonly Lazy<Task<(RegistryHost Host, JwksServer Jwks)>> Instance = new(StartAsync);

    public static Task<(RegistryHost Host, JwksServer Jwks)> GetAsync() => Instance.Value;

    private static async Task<(RegistryHost, JwksServer)> StartAsync()
    {
        var jwks = await JwksServer.StartAsync(Issuer.Rsa, Issuer.Ec);
        var host = await RegistryHost.StartAsync(
            null,
            "--Registry:Access:Enabled=true",
            $"--Registry:Access:AdminPassword={AccessRegistry.AdminPassword}",
            $"--Registry:Access:Oidc:Issuer={Issuer.Url}",
            $"--Registry:Access:Oidc:Audience={Issuer.Audience}",
            $"--Registry:Access:Oidc:JwksUrl={jwks.Url}");
        return (host, jwks);
    }
}

[Trait("Category", TestCategories.Fast)]
public sealed class OidcTests
{
    private static async Task<HttpStatusCode> StatusAsync(RegistryHost host, string path, string scheme, string credentials)
    {
        using var response = await AccessRegistry.SendAsync(host, HttpMethod.Get, path, new(scheme, credentials));
        return response.StatusCode;
    }

    private static string Basic(string user, string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));

    [Fact]
    public async Task AnIdTokenIsAcceptedAsBearerOnV2AndApisAndAsTheBasicPasswordAnywhere()
    {
        var (host, _) = await OidcRegistry.GetAsync();
        var token = Issuer.Token("alice", groups: new[] { "dev", "system:masters" });

        Assert.Equal(HttpStatusCode.OK, await StatusAsync(host, "/v2/", "Bearer", token));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(host, "/v2/", "Basic", Basic("anyone", token)));

        // Known but not allowed: 403, where a bad token is 401.
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(host, $"/v2/{SharedRegistry.UniqueName("oidc")}/tags/list", "Bearer", token));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(host, IdentityApi.Users, "Bearer", token));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(host, IdentityApi.Users, "Bearer", token + "x"));

        // The token endpoint takes it as the password of any user name, and names the prefixed user.
        var ours = await AccessRegistry.TokenAsync(host, "x", token);
        Assert.Equal("oidc:alice", new JsonWebToken(ours).Subject);

        // Name and groups from the claims; the registry's reserved groups cannot be claimed.
        var context = new DefaultHttpContext();
        context.Request.Headers.Authorization = "Bearer " + token;
        var identity = (await host.Service<Authenticator>().AuthenticateAsync(context.Request)).Caller!.Identity;
        Assert.Equal("oidc:alice", identity.Name);
        Assert.Equal(IdentityKind.External, identity.Kind);
        Assert.Equal(["dev", BuiltInGroups.Authenticated], identity.Groups);
        Assert.False(identity.IsAdmin);
    }

    [Fact]
    public async Task AnEs256TokenAndAOneStringGroupsClaimWork()
    {
        var (host, _) = await OidcRegistry.GetAsync();
        var context = new DefaultHttpContext();
        context.Request.Headers.Authorization = "Bearer " + Issuer.Token("bob", Issuer.Ec, SecurityAlgorithms.EcdsaSha256, groups: "ops");

        var identity = (await host.Service<Authenticator>().AuthenticateAsync(context.Request)).Caller!.Identity;

        Assert.Equal("oidc:bob", identity.Name);
        Assert.Equal(["ops", BuiltInGroups.Authenticated], identity.Groups);
    }

    public static TheoryData<string, string> Attacks()
    {
        var attacker = new RsaSecurityKey(RSA.Create(2048)) { KeyId = "rsa-1" };
        var publicKeyBytes = Encoding.UTF8.GetBytes(JwksServer.Document([Issuer.Rsa]));
        var hmac = new SymmetricSecurityKey(publicKeyBytes.Length >= 32 ? publicKeyBytes : [.. publicKeyBytes, .. new byte[32]]) { KeyId = "rsa-1" };
        return new TheoryData<string, string>
        {
            { "wrong issuer", Issuer.Token(issuer: "https://evil.example.test/") },
            { "wrong audience", Issuer.Token(audience: "another-client") },
            { "expired beyond the leeway", Issuer.Token(expiresIn: TimeSpan.FromMinutes(-5)) },
            { "not valid before beyond the leeway", Issuer.Token(notBeforeIn: TimeSpan.FromHours(1), expiresIn: TimeSpan.FromHours(2)) },
            { "alg none", Issuer.Unsigned() },
            { "HS256 keyed with the public key", Issuer.Token(key: hmac, algorithm: SecurityAlgorithms.HmacSha256) },
            { "unknown kid", Issuer.Token(key: new RsaSecurityKey(RSA.Create(2048)) { KeyId = "rsa-unknown" }) },
            { "an attacker's jwk in the header with a trusted kid", Issuer.Token(key: attacker, header: new Dictionary<string, object> { ["jwk"] = JwksServer.Jwk(attacker) }) },
            { "signature of another key", Issuer.Token(key: attacker) },
            { "tampered payload", Tamper(Issuer.Token()) },
        };
    }

    [Theory]
    [MemberData(nameof(Attacks))]
    public async Task ForgedOrMisdirectedTokensAreRefused(string attack, string token)
    {
        var (host, _) = await OidcRegistry.GetAsync();

        Assert.True(HttpStatusCode.Unauthorized == await StatusAsync(host, "/v2/", "Bearer", token), attack);
        Assert.True(HttpStatusCode.Unauthorized == await StatusAsync(host, "/v2/", "Basic", Basic("x", token)), attack);
        Assert.True(HttpStatusCode.Unauthorized == await StatusAsync(host, IdentityApi.Users, "Bearer", token), attack);
        using var tokenEndpoint = await AccessRegistry.SendAsync(host, HttpMethod.Get, "/auth/token?scope=repository:a/b:pull", new("Basic", Basic("x", token)));
        Assert.True(HttpStatusCode.Unauthorized == tokenEndpoint.StatusCode, attack);
    }

    [Fact]
    public async Task AnUnknownKidFetchesTheKeysAgainAtMostOncePerIntervalAndFindsARotatedKey()
    {
        var rotated = new RsaSecurityKey(RSA.Create(2048)) { KeyId = "rsa-2" };
        await using var jwks = await JwksServer.StartAsync(Issuer.Rsa);
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        var (host, _) = await OidcRegistry.GetAsync();
        var options = Options.Create(new OidcOptions { Issuer = Issuer.Url, Audience = Issuer.Audience, JwksUrl = jwks.Url, JwksMissRefresh = TimeSpan.FromSeconds(30) });
        var verifier = new OidcVerifier(options, host.Service<IHttpClientFactory>(), clock, NullLogger<OidcVerifier>.Instance);

        Assert.NotNull(await verifier.VerifyAsync(Issuer.Token()));
        Assert.Equal(1, jwks.Fetches);

        // A flood of unknown kids costs one fetch per interval, not one per token.
        for (var i = 0; i < 5; i++)
        {
            Assert.Null(await verifier.VerifyAsync(Issuer.Token(key: new RsaSecurityKey(RSA.Create(2048)) { KeyId = $"forged-{i}" })));
        }

        Assert.Equal(2, jwks.Fetches);

        // The issuer rotates: its new key is found once the interval has passed.
        jwks.Keys.Add(rotated);
        var token = Issuer.Token(key: rotated);
        Assert.Null(await verifier.VerifyAsync(token));
        clock.Now += TimeSpan.FromSeconds(31);
        Assert.NotNull(await verifier.VerifyAsync(token));
        Assert.Equal(3, jwks.Fetches);
    }

    [Fact]
    public async Task AKeySetFileWorksWithoutAUrl()
    {
        var file = Path.Combine(Directory.CreateTempSubdirectory("jwks-").FullName, "jwks.json");
        await File.WriteAllTextAsync(file, JwksServer.Document([Issuer.Ec]));
        var (host, _) = await OidcRegistry.GetAsync();
        var options = Options.Create(new OidcOptions { Issuer = Issuer.Url, Audience = Issuer.Audience, JwksFile = file, UsernamePrefix = "-" });
        var verifier = new OidcVerifier(options, host.Service<IHttpClientFactory>(), TimeProvider.System, NullLogger<OidcVerifier>.Instance);

        Assert.Equal("carol", (await verifier.VerifyAsync(Issuer.Token("carol", Issuer.Ec, SecurityAlgorithms.EcdsaSha256)))?.Name);
        Assert.Null(await verifier.VerifyAsync(Issuer.Token("carol")));
    }

    [Theory]
    [InlineData("Audience", "--Registry:Access:Oidc:JwksFile=/nonexistent/jwks.json")]
    [InlineData("JwksFile", "--Registry:Access:Oidc:Audience=a", "--Registry:Access:Oidc:JwksFile=/nonexistent/jwks.json")]
    [InlineData("exactly one of JwksUrl", "--Registry:Access:Oidc:Audience=a")]
    [InlineData("https", "--Registry:Access:Oidc:Audience=a", "--Registry:Access:Oidc:JwksUrl=http://keys.example.test/jwks")]
    [InlineData("HS256", "--Registry:Access:Oidc:Audience=a", "--Registry:Access:Oidc:JwksUrl=https://keys.example.test/jwks", "--Registry:Access:Oidc:Algorithms:0=HS256")]
    [InlineData("none", "--Registry:Access:Oidc:Audience=a", "--Registry:Access:Oidc:JwksUrl=https://keys.example.test/jwks", "--Registry:Access:Oidc:Algorithms:0=none")]
    public void BadOidcSettingsStopTheStartWithAMessage(string expected, params string[] settings)
    {
        var data = Directory.CreateTempSubdirectory("oidc-options-").FullName;
        string[] args = [$"--Registry:DataDirectory={data}", "--Registry:Listen=http://127.0.0.1:0", "--Registry:Access:Enabled=true", $"--Registry:Access:Oidc:Issuer={Issuer.Url}", .. settings];

        var error = Assert.Throws<OptionsValidationException>(() => RegistryApp.Create(args));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Directory.Delete(data, recursive: true);
    }

    private static string Tamper(string token)
    {
        var parts = token.Split('.');
        var payload = Encoding.UTF8.GetString(Base64UrlEncoder.DecodeBytes(parts[1])).Replace("\"alice\"", "\"admin\"", StringComparison.Ordinal);
        return $"{parts[0]}.{Base64UrlEncoder.Encode(payload)}.{parts[2]}";
    }
}
