using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Registry.Api.Access;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>Attacks on the token flow and on tags beyond those of <see cref="AccessTests"/>; every refusal stores nothing.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class AccessAttackTests
{
    private static AuthenticationHeaderValue Admin => AccessRegistry.Basic(AdminBootstrap.AdminName, AccessRegistry.AdminPassword);

    [Fact]
    public async Task AnX5cHeaderWithTheAttackersCertificateAndATrustedKidIsInvalid()
    {
        var host = await AccessRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("att");
        var keys = await host.Service<IGrainFactory>().GetGrain<ISigningKeysGrain>(0).Get();
        using var attacker = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var certificate = new CertificateRequest("CN=attacker", attacker, HashAlgorithmName.SHA256).CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var token = Sign(
            new ECDsaSecurityKey(attacker) { KeyId = keys.Current.KeyId },
            name,
            header: new Dictionary<string, object> { ["x5c"] = new[] { Convert.ToBase64String(certificate.RawData) } });

        await AssertPushRefusedAsync(host, name, token, "invalid_token");
    }

    [Theory]
    [InlineData(-30, 0)]
    [InlineData(0, 30)]
    public async Task ExpiryAndNotBeforeWithinTheLeewayAreAccepted(int expiredSecondsAgoNegated, int notBeforeInSeconds)
    {
        var host = await AccessRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("att");
        var now = DateTime.UtcNow;
        var expires = expiredSecondsAgoNegated < 0 ? now.AddSeconds(expiredSecondsAgoNegated) : now.AddMinutes(5);
        var token = Sign(await OurKeyAsync(host), name, notBefore: notBeforeInSeconds > 0 ? now.AddSeconds(notBeforeInSeconds) : now.AddMinutes(-2), expires: expires, issuedAt: now.AddMinutes(-2));

        using var response = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{name}/tags/list", new("Bearer", token));

        await response.AssertErrorAsync(HttpStatusCode.NotFound, "NAME_UNKNOWN");
    }

    [Fact]
    public async Task APushOnlyTokenCannotPutAManifest()
    {
        var host = await AccessRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("att");
        var token = Sign(await OurKeyAsync(host), name, actions: ["push"]);

        await AssertPushRefusedAsync(host, name, token, "insufficient_scope");
    }

    [Fact]
    public async Task APullOnlyTokenCannotDeleteAndTheManifestStays()
    {
        var host = await AccessRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("att");
        using var admin = new HttpClient { BaseAddress = host.BaseAddress };
        admin.DefaultRequestHeaders.Authorization = Admin;
        var (digest, _) = await admin.PushImageAsync(name, "v1", layers: 1);
        var token = Sign(await OurKeyAsync(host), name, actions: ["pull"]);

        using var response = await AccessRegistry.SendAsync(host, HttpMethod.Delete, $"/v2/{name}/manifests/{digest}", new("Bearer", token));

        await response.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        Assert.Equal($"Bearer realm=\"{host.BaseAddress.Scheme}://{host.Authority}/auth/token\",service=\"orleans-registry\",scope=\"repository:{name}:delete\",error=\"insufficient_scope\"", response.Headers.WwwAuthenticate.Single().ToString());
        Assert.Equal(["v1"], await admin.ListTagsAsync(name));
    }

    [Fact]
    public async Task APutByDigestWithATagParameterNeverMovesAnExistingTag()
    {
        var host = await AccessRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("att");
        using var admin = new HttpClient { BaseAddress = host.BaseAddress };
        admin.DefaultRequestHeaders.Authorization = Admin;
        var (first, _) = await admin.PushImageAsync(name, "latest", layers: 1);
        var (_, second) = await admin.PushImageAsync(name, "other", layers: 1);
        using var pushOnly = new HttpClient { BaseAddress = host.BaseAddress };
        pushOnly.DefaultRequestHeaders.Authorization = new("Bearer", Sign(await OurKeyAsync(host), name, actions: ["pull", "push"]));

        using (var content = new ByteArrayContent(second))
        {
            content.Headers.ContentType = new MediaTypeHeaderValue(Oci.ManifestType);
            // ?tag= tags the manifest (docs/api.md), so moving a tag that way needs overwrite as a PUT by tag does.
            using var put = await pushOnly.PutAsync($"/v2/{name}/manifests/{Oci.Digest(second)}?tag=latest", content);
            await put.AssertErrorAsync(HttpStatusCode.Forbidden, "DENIED");
        }

        Assert.Equal(first, Oci.Digest(await admin.GetByteArrayAsync($"/v2/{name}/manifests/latest")));
    }

    [Fact]
    public async Task AnonymousManifestReadsOfAPrivateRepositoryAreChallenged()
    {
        var host = await AccessRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("att");
        using var admin = new HttpClient { BaseAddress = host.BaseAddress };
        admin.DefaultRequestHeaders.Authorization = Admin;
        var (digest, _) = await admin.PushImageAsync(name, "v1", layers: 1);

        foreach (var (method, path) in new[] { (HttpMethod.Get, $"/v2/{name}/manifests/v1"), (HttpMethod.Head, $"/v2/{name}/manifests/{digest}"), (HttpMethod.Get, $"/v2/{name}/tags/list") })
        {
            using var response = await host.Client.SendAsync(new HttpRequestMessage(method, path));
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal($"Bearer realm=\"{host.BaseAddress.Scheme}://{host.Authority}/auth/token\",service=\"orleans-registry\",scope=\"repository:{name}:pull\"", response.Headers.WwwAuthenticate.Single().ToString());
            if (method != HttpMethod.Head)
            {
                await response.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
            }
        }
    }

    [Fact]
    public async Task ScopesWithHostPortNamesAndRepeatedScopesAreGrantedAsAsked()
    {
        var host = await AccessRegistry.GetAsync();
        var (user, password) = await AccessRegistry.NewUserAsync(host);

        var merged = await AccessRegistry.TokenAsync(host, user, password, $"repository:{user}/app:pull", $"repository:{user}/app:push", $"repository:{user}/app:pull");
        Assert.Equal([$"repository:{user}/app:pull,push,overwrite"], AccessRegistry.GrantedScopes(merged));

        // A host:port name is one name: not the user's namespace, so nothing is granted to the user, all of it to the admin.
        var hostPort = $"repository:127.0.0.1:5000/{user}/app:pull";
        Assert.Empty(AccessRegistry.GrantedScopes(await AccessRegistry.TokenAsync(host, user, password, hostPort)));
        Assert.Equal([hostPort], AccessRegistry.GrantedScopes(await AccessRegistry.TokenAsync(host, AdminBootstrap.AdminName, AccessRegistry.AdminPassword, hostPort)));
    }

    [Fact]
    public async Task UnknownBasicCredentialsGetTheEnvelopeWithAChallengeAndStoreNothing()
    {
        var host = await AccessRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("att");
        var blob = Oci.RandomBytes(100);

        using var response = await AccessRegistry.SendAsync(host, HttpMethod.Post, $"/v2/{name}/blobs/uploads/?digest={Oci.Digest(blob)}", AccessRegistry.Basic("nobody-" + Guid.NewGuid().ToString("N")[..8], "x"), new ByteArrayContent(blob));

        await response.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        Assert.Contains("error=\"invalid_token\"", response.Headers.WwwAuthenticate.Single().Parameter, StringComparison.Ordinal);
        using var admin = new HttpClient { BaseAddress = host.BaseAddress };
        admin.DefaultRequestHeaders.Authorization = Admin;
        using var head = await admin.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/{name}/blobs/{Oci.Digest(blob)}"));
        Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
    }

    [Fact]
    public async Task NoPasswordOrTokenReachesTheLog()
    {
        var captured = new CapturingLoggerProvider();
        await using var host = await RegistryHost.StartAsync(
            null,
            builder => builder.Logging.AddProvider(captured),
            "--Registry:Access:Enabled=true",
            $"--Registry:Access:AdminPassword={AccessRegistry.AdminPassword}",
            "--Logging:LogLevel:Default=Trace",
            "--Logging:LogLevel:Orleans=Information");
        var (user, password) = await AccessRegistry.NewUserAsync(host);
        var wrong = "wrong-" + Guid.NewGuid().ToString("N");

        using (await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{user}/app/tags/list", AccessRegistry.Basic(user, wrong)))
        using (await AccessRegistry.SendAsync(host, HttpMethod.Get, "/auth/token", AccessRegistry.Basic(user, wrong)))
        using (await AccessRegistry.SendAsync(host, HttpMethod.Get, SelfSubjectReviewEndpoint.Path, AccessRegistry.Basic(user, wrong)))
        {
        }

        using var form = new FormUrlEncodedContent([new("grant_type", "password"), new("username", user), new("password", password), new("access_type", "offline"), new("scope", $"repository:{user}/app:pull,push"), new("service", "orleans-registry"), new("client_id", "test")]);
        using var oauth = await host.Client.PostAsync("/auth/token", form);
        using var answer = JsonDocument.Parse(await oauth.Content.ReadAsByteArrayAsync());
        var token = answer.RootElement.GetProperty("access_token").GetString()!;
        var refresh = answer.RootElement.GetProperty("refresh_token").GetString()!;
        using var bearer = new HttpClient { BaseAddress = host.BaseAddress };
        bearer.DefaultRequestHeaders.Authorization = new("Bearer", token);
        await bearer.PushImageAsync($"{user}/app", "v1", layers: 1);
        using (await AccessRegistry.SendAsync(host, HttpMethod.Get, SelfSubjectReviewEndpoint.Path, new("Bearer", token)))
        using (await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{user}/app/tags/list", new("Bearer", token + "x")))
        using (var again = new FormUrlEncodedContent([new("grant_type", "refresh_token"), new("refresh_token", refresh), new("service", "orleans-registry"), new("client_id", "test")]))
        using (await host.Client.PostAsync("/auth/token", again))
        {
        }

        var log = captured.Text();
        Assert.Contains(user, log, StringComparison.Ordinal);
        foreach (var secret in new[] { password, wrong, AccessRegistry.AdminPassword, token, token[(token.LastIndexOf('.') + 1)..], refresh })
        {
            Assert.DoesNotContain(secret, log, StringComparison.Ordinal);
        }
    }

    /// <summary>A manifest PUT with <paramref name="token"/> is 401 with <paramref name="error"/> in the challenge and stores nothing.</summary>
    internal static async Task AssertPushRefusedAsync(RegistryHost host, string name, string token, string error)
    {
        using var admin = new HttpClient { BaseAddress = host.BaseAddress };
        admin.DefaultRequestHeaders.Authorization = Admin;
        var config = Oci.Json(new { architecture = "amd64", os = "linux" });
        await admin.PushBlobAsync(name, config);
        var manifest = Oci.Json(new { schemaVersion = 2, mediaType = Oci.ManifestType, config = Oci.Descriptor(Oci.ConfigType, config), layers = Array.Empty<object>() });
        using var content = new ByteArrayContent(manifest);
        content.Headers.ContentType = new MediaTypeHeaderValue(Oci.ManifestType);

        using var response = await AccessRegistry.SendAsync(host, HttpMethod.Put, $"/v2/{name}/manifests/v1", new("Bearer", token), content);

        await response.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        Assert.Contains($"error=\"{error}\"", response.Headers.WwwAuthenticate.Single().Parameter, StringComparison.Ordinal);
        using var stored = await admin.GetAsync($"/v2/{name}/manifests/v1");
        Assert.Equal(HttpStatusCode.NotFound, stored.StatusCode);
    }

    internal static async Task<ECDsaSecurityKey> OurKeyAsync(RegistryHost host)
    {
        var key = (await host.Service<IGrainFactory>().GetGrain<ISigningKeysGrain>(0).Get()).Current;

        // Not disposed: the token library caches signature providers by key id across calls.
        var ours = ECDsa.Create();
        ours.ImportPkcs8PrivateKey(key.PrivateKey, out _);
        return new ECDsaSecurityKey(ours) { KeyId = key.KeyId };
    }

    internal static string Sign(SecurityKey key, string name, string[]? actions = null, DateTime? notBefore = null, DateTime? expires = null, DateTime? issuedAt = null, Dictionary<string, object>? header = null)
    {
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = "orleans-registry",
            Audience = "orleans-registry",
            NotBefore = notBefore ?? now.AddMinutes(-1),
            Expires = expires ?? now.AddMinutes(5),
            IssuedAt = issuedAt ?? now,
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.EcdsaSha256),
            AdditionalHeaderClaims = header,
            Subject = new ClaimsIdentity([new Claim("sub", "admin")]),
            Claims = new Dictionary<string, object> { ["access"] = new List<object> { new Dictionary<string, object> { ["type"] = "repository", ["name"] = name, ["actions"] = actions ?? ["pull", "push"] } } },
        });
    }

    /// <summary>Every log entry of a host, as text: message, state values and exception.</summary>
    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        private readonly ConcurrentQueue<string> _entries = new();

        public ILogger CreateLogger(string categoryName) => new Logger(_entries);

        public string Text() => string.Join('\n', _entries);

        public void Dispose()
        {
        }

        private sealed class Logger(ConcurrentQueue<string> entries) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull
            {
                entries.Enqueue(state.ToString() ?? "");
                return null;
            }

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(' ', pairs.Select(p => $"{p.Key}={p.Value}")) : "";
                entries.Enqueue($"{formatter(state, exception)} {values} {exception}");
            }
        }
    }
}
