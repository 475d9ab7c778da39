using System.Net;
using System.Net.Http.Headers;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Registry.Api.Access;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>One registry with access control on, shared by the access tests; each test uses its own accounts and names.</summary>
public static class AccessRegistry
{
    public const string AdminPassword = "admin-test-secret";

    /// <summary>The shared host's audit log: change events and refused attempts.</summary>
    public static readonly string AuditPath = Path.Combine(Directory.CreateTempSubdirectory("registry-access-audit-").FullName, "audit.log");

    // Failed logins of the whole suite come from one address: the limits are raised (LoginThrottleTests has its own host).
    private static readonly Lazy<Task<RegistryHost>> Host = new(() => RegistryHost.StartAsync(
        null,
        "--Registry:Access:Enabled=true",
        $"--Registry:Access:AdminPassword={AdminPassword}",
        $"--Registry:Audit:Path={AuditPath}",
        "--Registry:Access:FailedLogins:PerAddress=10000",
        "--Registry:Access:FailedLogins:PerAccount=10000"));

    public static Task<RegistryHost> GetAsync() => Host.Value;

    /// <summary>A new user account (no admin) with its own name, and its password.</summary>
    public static async Task<(string Name, string Password)> NewUserAsync(RegistryHost host)
    {
        var name = "u" + Guid.NewGuid().ToString("N")[..12];
        var password = Guid.NewGuid().ToString("N");
        Assert.True(await host.Service<IGrainFactory>().GetGrain<IAccountGrain>(name).Create(PasswordHashing.Hash(password), [], isAdmin: false));
        return (name, password);
    }

    public static AuthenticationHeaderValue Basic(string user, string password)
        => new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    /// <summary>Asks the token endpoint for <paramref name="scopes"/>; returns the token.</summary>
    public static async Task<string> TokenAsync(RegistryHost host, string? user, string? password, params string[] scopes)
    {
        var query = string.Join("&", scopes.Select(s => "scope=" + Uri.EscapeDataString(s)).Prepend("service=orleans-registry"));
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/auth/token?{query}");
        if (user is not null)
        {
            request.Headers.Authorization = Basic(user, password!);
        }

        using var response = await host.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync());
        var token = body.RootElement.GetProperty("token").GetString()!;
        Assert.Equal(token, body.RootElement.GetProperty("access_token").GetString());
        Assert.True(body.RootElement.GetProperty("expires_in").GetInt32() >= 60);

        // Go clients parse the raw JSON string: RFC 3339 with a plain 'Z', nothing escaped.
        Assert.Matches(@"^""\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ""$", body.RootElement.GetProperty("issued_at").GetRawText());
        return token;
    }

    /// <summary>The <c>access</c> claim of a token, as scope strings.</summary>
    public static string[] GrantedScopes(string token)
        => [.. new JsonWebToken(token).GetPayloadValue<JsonElement>("access").EnumerateArray()
            .Select(a => $"{a.GetProperty("type").GetString()}:{a.GetProperty("name").GetString()}:{string.Join(',', a.GetProperty("actions").EnumerateArray().Select(x => x.GetString()))}")];

    public static async Task<HttpResponseMessage> SendAsync(RegistryHost host, HttpMethod method, string path, AuthenticationHeaderValue? auth, HttpContent? content = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.Authorization = auth;
        return await host.Client.SendAsync(request);
    }
}

[Trait("Category", TestCategories.Fast)]
public sealed class AccessTests
{
    [Fact]
    public async Task AnAnonymousBaseRequestIsSentIntoTheTokenFlow()
    {
        var host = await AccessRegistry.GetAsync();

        using var response = await host.Client.GetAsync("/v2/");

        await response.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        var challenge = response.Headers.WwwAuthenticate.Single();
        Assert.Equal("Bearer", challenge.Scheme);
        Assert.Equal($"realm=\"{host.BaseAddress.Scheme}://{host.Authority}/auth/token\",service=\"orleans-registry\"", challenge.Parameter);
    }

    [Fact]
    public async Task AnAdminTokenPushesAndPullsAndItsGrantIsWhatWasAsked()
    {
        var host = await AccessRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("acc");
        var token = await AccessRegistry.TokenAsync(host, AdminBootstrap.AdminName, AccessRegistry.AdminPassword, $"repository:{name}:pull,push");
        Assert.Equal([$"repository:{name}:pull,push,overwrite"], AccessRegistry.GrantedScopes(token));

        using var client = new HttpClient { BaseAddress = host.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new("Bearer", token);
        var (digest, manifest) = await client.PushImageAsync(name, "v1", layers: 1);

        Assert.Equal(manifest, await client.GetByteArrayAsync($"/v2/{name}/manifests/{digest}"));
        using var anonymous = await host.Client.GetAsync($"/v2/{name}/manifests/v1");
        await anonymous.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        Assert.Contains($"scope=\"repository:{name}:pull\"", anonymous.Headers.WwwAuthenticate.Single().Parameter, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ATokenForOneRepositoryIsInsufficientForAnother()
    {
        var host = await AccessRegistry.GetAsync();
        var a = SharedRegistry.UniqueName("acc");
        var b = SharedRegistry.UniqueName("acc");
        var token = await AccessRegistry.TokenAsync(host, AdminBootstrap.AdminName, AccessRegistry.AdminPassword, $"repository:{a}:pull,push");

        using var response = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{b}/tags/list", new("Bearer", token));

        await response.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        Assert.Contains("error=\"insufficient_scope\"", response.Headers.WwwAuthenticate.Single().Parameter, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APushOnlyTokenCannotPutBecausePullIsNeededToo()
    {
        var host = await AccessRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("acc");
        var token = await AccessRegistry.TokenAsync(host, AdminBootstrap.AdminName, AccessRegistry.AdminPassword, $"repository:{name}:push");

        using var response = await AccessRegistry.SendAsync(host, HttpMethod.Post, $"/v2/{name}/blobs/uploads/", new("Bearer", token));

        await response.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        Assert.Contains("error=\"insufficient_scope\"", response.Headers.WwwAuthenticate.Single().Parameter, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AUserOwnsTheNamespaceOfItsNameAndIsGrantedNothingElse()
    {
        var host = await AccessRegistry.GetAsync();
        var (user, password) = await AccessRegistry.NewUserAsync(host);
        var own = $"{user}/app";
        var other = SharedRegistry.UniqueName("acc");

        // A partial grant is not an error: the token carries only what may be had.
        var token = await AccessRegistry.TokenAsync(host, user, password, $"repository:{own}:pull,push", $"repository:{other}:pull", "registry:catalog:*");
        Assert.Equal([$"repository:{own}:pull,push,overwrite"], AccessRegistry.GrantedScopes(token));

        using var basic = new HttpClient { BaseAddress = host.BaseAddress };
        basic.DefaultRequestHeaders.Authorization = AccessRegistry.Basic(user, password);
        await basic.PushImageAsync(own, "v1", layers: 1);
        using var denied = await basic.PostAsync($"/v2/{other}/blobs/uploads/", null);
        await denied.AssertErrorAsync(HttpStatusCode.Forbidden, "DENIED");

        // The catalog lists only what the caller may pull.
        Assert.Equal([own], await basic.CatalogAsync());
    }

    [Fact]
    public async Task WrongCredentialsAreRefusedAndAChangedOrDeletedPasswordStopsAtOnce()
    {
        var host = await AccessRegistry.GetAsync();
        var (user, password) = await AccessRegistry.NewUserAsync(host);
        var path = $"/v2/{user}/app/tags/list";

        using (var ok = await AccessRegistry.SendAsync(host, HttpMethod.Get, path, AccessRegistry.Basic(user, password)))
        {
            Assert.Equal(HttpStatusCode.NotFound, ok.StatusCode);
        }

        using (var wrong = await AccessRegistry.SendAsync(host, HttpMethod.Get, path, AccessRegistry.Basic(user, password + "x")))
        {
            await wrong.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        }

        using (var unknown = await AccessRegistry.SendAsync(host, HttpMethod.Get, path, AccessRegistry.Basic(user + "x", password)))
        {
            await unknown.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        }

        // The success above is cached; a new password must still end the old one on the next request.
        var account = host.Service<IGrainFactory>().GetGrain<IAccountGrain>(user);
        Assert.True(await account.SetPassword(PasswordHashing.Hash("new-" + password)));
        using (var old = await AccessRegistry.SendAsync(host, HttpMethod.Get, path, AccessRegistry.Basic(user, password)))
        {
            await old.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        }

        using (var renewed = await AccessRegistry.SendAsync(host, HttpMethod.Get, path, AccessRegistry.Basic(user, "new-" + password)))
        {
            Assert.Equal(HttpStatusCode.NotFound, renewed.StatusCode);
        }

        await account.Delete();
        using (var deleted = await AccessRegistry.SendAsync(host, HttpMethod.Get, path, AccessRegistry.Basic(user, "new-" + password)))
        {
            await deleted.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        }
    }

    [Fact]
    public async Task TheTokenEndpointRefusesBadCredentialsAndMalformedScopes()
    {
        var host = await AccessRegistry.GetAsync();
        using var bad = await AccessRegistry.SendAsync(host, HttpMethod.Get, "/auth/token?scope=repository:a/b:pull", AccessRegistry.Basic(AdminBootstrap.AdminName, "nope"));
        await bad.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");

        foreach (var scope in new[] { "repository", "repository:a/b", "repository::pull", ":a/b:pull", "repository:a/b:", "Repo:a/b:pull", "repository:a/b:pull;push" })
        {
            using var malformed = await host.Client.GetAsync($"/auth/token?scope={Uri.EscapeDataString(scope)}");
            await malformed.AssertErrorAsync(HttpStatusCode.BadRequest, "UNSUPPORTED");
        }
    }

    [Theory]
    [InlineData("repository:team/app:pull", "repository", "team/app", "pull")]
    [InlineData("repository:localhost:5000/team/app:pull,push", "repository", "localhost:5000/team/app", "pull,push")]
    [InlineData("repository(plugin):team/app:pull", "repository", "team/app", "pull")]
    [InlineData("registry:catalog:*", "registry", "catalog", "*")]
    [InlineData("repository:a:push,pull,push", "repository", "a", "push,pull")]
    public void ScopesParseWithHostPortNamesAndIgnoreTheClass(string scope, string type, string name, string actions)
    {
        var item = AccessItem.Parse(scope);

        Assert.NotNull(item);
        Assert.Equal((type, name, actions), (item.Type, item.Name, string.Join(',', item.Actions)));
    }

    [Fact]
    public void RepeatedScopesForOneRepositoryMerge()
    {
        var items = AccessItem.ParseAll(["repository:a/b:pull", "repository:a/b:push repository:c:pull"]);

        Assert.NotNull(items);
        Assert.Equal(["repository:a/b:pull,push", "repository:c:pull"], items.Select(i => i.ToString()));
    }

    [Fact]
    public async Task AMountFromARepositoryTheCallerMayNotReadStartsANormalUpload()
    {
        var host = await AccessRegistry.GetAsync();
        var (user, password) = await AccessRegistry.NewUserAsync(host);
        var secret = SharedRegistry.UniqueName("acc");
        var blob = Oci.RandomBytes(1000);
        using (var admin = new HttpClient { BaseAddress = host.BaseAddress })
        {
            admin.DefaultRequestHeaders.Authorization = AccessRegistry.Basic(AdminBootstrap.AdminName, AccessRegistry.AdminPassword);
            await admin.PushBlobAsync(secret, blob);
        }

        using var mount = await AccessRegistry.SendAsync(host, HttpMethod.Post, $"/v2/{user}/app/blobs/uploads/?mount={Oci.Digest(blob)}&from={secret}", AccessRegistry.Basic(user, password));

        Assert.Equal(HttpStatusCode.Accepted, mount.StatusCode);
        using var head = await AccessRegistry.SendAsync(host, HttpMethod.Head, $"/v2/{user}/app/blobs/{Oci.Digest(blob)}", AccessRegistry.Basic(user, password));
        Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
    }

    public static TheoryData<string> ForgedTokens() => ["alg-none", "hs256-with-public-key", "unknown-kid", "embedded-jwk", "wrong-issuer", "wrong-audience", "expired", "not-yet-valid", "garbage"];

    [Theory]
    [MemberData(nameof(ForgedTokens))]
    public async Task AForgedOrMisusedTokenIsInvalidAndStoresNothing(string forgery)
    {
        var host = await AccessRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("acc");
        var keys = await host.Service<IGrainFactory>().GetGrain<ISigningKeysGrain>(0).Get();
        var token = Forge(forgery, keys.Current, name);
        await AccessAttackTests.AssertPushRefusedAsync(host, name, token, "invalid_token");
    }

    [Theory]
    [InlineData("latest")]
    [InlineData("v1")]
    public async Task MovingAnExistingTagNeedsOverwriteWhilePushingANewOneOrTheSameManifestDoesNot(string tag)
    {
        var host = await AccessRegistry.GetAsync();
        var name = SharedRegistry.UniqueName("acc");
        using var admin = new HttpClient { BaseAddress = host.BaseAddress };
        admin.DefaultRequestHeaders.Authorization = AccessRegistry.Basic(AdminBootstrap.AdminName, AccessRegistry.AdminPassword);
        var (first, firstBytes) = await admin.PushImageAsync(name, tag, layers: 1);
        var (_, secondBytes) = await admin.PushImageAsync(name, "other", layers: 1);
        var keys = await host.Service<IGrainFactory>().GetGrain<ISigningKeysGrain>(0).Get();
        using var pushOnly = new HttpClient { BaseAddress = host.BaseAddress };
        pushOnly.DefaultRequestHeaders.Authorization = new("Bearer", Forge("new-key", keys.Current, name));

        using (var move = await pushOnly.PutManifestAsync(name, tag, secondBytes))
        {
            await move.AssertErrorAsync(HttpStatusCode.Forbidden, "DENIED");
        }

        Assert.Equal(first, Oci.Digest(await admin.GetByteArrayAsync($"/v2/{name}/manifests/{tag}")));
        using (var same = await pushOnly.PutManifestAsync(name, tag, firstBytes))
        {
            Assert.Equal(HttpStatusCode.Created, same.StatusCode);
        }

        using (var fresh = await pushOnly.PutManifestAsync(name, "new-" + tag, secondBytes))
        {
            Assert.Equal(HttpStatusCode.Created, fresh.StatusCode);
        }

        using (var byOwner = await admin.PutManifestAsync(name, tag, secondBytes))
        {
            Assert.Equal(HttpStatusCode.Created, byOwner.StatusCode);
        }
    }

    [Fact]
    public async Task TheOAuthFormGivesRefreshTokensThatANewPasswordEndsAndThatAreNoAccessTokens()
    {
        var host = await AccessRegistry.GetAsync();
        var (user, password) = await AccessRegistry.NewUserAsync(host);
        var name = $"{user}/app";

        var first = await PostTokenAsync(host, HttpStatusCode.OK, ("grant_type", "password"), ("username", user), ("password", password), ("access_type", "offline"), ("scope", $"repository:{name}:pull,push"), ("service", "orleans-registry"), ("client_id", "test"));
        Assert.Equal($"repository:{name}:pull,push,overwrite", first.GetProperty("scope").GetString());
        var refresh = first.GetProperty("refresh_token").GetString()!;
        using (var push = new HttpClient { BaseAddress = host.BaseAddress })
        {
            push.DefaultRequestHeaders.Authorization = new("Bearer", first.GetProperty("access_token").GetString());
            await push.PushImageAsync(name, "v1", layers: 1);
        }

        var second = await PostTokenAsync(host, HttpStatusCode.OK, ("grant_type", "refresh_token"), ("refresh_token", refresh), ("scope", $"repository:{name}:pull"), ("service", "orleans-registry"), ("client_id", "test"));
        using (var pull = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{name}/manifests/v1", new("Bearer", second.GetProperty("access_token").GetString())))
        {
            Assert.Equal(HttpStatusCode.OK, pull.StatusCode);
        }

        // Neither kind passes for the other.
        using (var asAccess = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{name}/manifests/v1", new("Bearer", refresh)))
        {
            await asAccess.AssertErrorAsync(HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        }

        await PostTokenAsync(host, HttpStatusCode.Unauthorized, ("grant_type", "refresh_token"), ("refresh_token", second.GetProperty("access_token").GetString()!));
        await PostTokenAsync(host, HttpStatusCode.Unauthorized, ("grant_type", "password"), ("username", user), ("password", "wrong"));
        await PostTokenAsync(host, HttpStatusCode.BadRequest, ("grant_type", "authorization_code"));

        Assert.True(await host.Service<IGrainFactory>().GetGrain<IAccountGrain>(user).SetPassword(PasswordHashing.Hash("changed")));
        await PostTokenAsync(host, HttpStatusCode.Unauthorized, ("grant_type", "refresh_token"), ("refresh_token", refresh));
    }

    private static async Task<JsonElement> PostTokenAsync(RegistryHost host, HttpStatusCode expected, params (string Key, string Value)[] form)
    {
        using var body = new FormUrlEncodedContent(form.Select(f => KeyValuePair.Create(f.Key, f.Value)));
        using var response = await host.Client.PostAsync("/auth/token", body);
        Assert.Equal(expected, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync()).RootElement.Clone();
    }

    [Fact]
    public async Task AfterARotationTokensOfTheOldAndTheNewKeyBothVerify()
    {
        await using var host = await RegistryHost.StartAsync(null, "--Registry:Access:Enabled=true", $"--Registry:Access:AdminPassword={AccessRegistry.AdminPassword}");
        var name = SharedRegistry.UniqueName("acc");
        var before = await AccessRegistry.TokenAsync(host, AdminBootstrap.AdminName, AccessRegistry.AdminPassword, $"repository:{name}:pull");

        // As another replica would after the rotation: sign with the new key, unknown to this one so far.
        var rotated = await host.Service<IGrainFactory>().GetGrain<ISigningKeysGrain>(0).Rotate(TimeSpan.FromHours(1));
        var after = Forge("new-key", rotated.Current, name);

        Assert.NotEqual(new JsonWebToken(before).Kid, new JsonWebToken(after).Kid);
        foreach (var token in new[] { before, after })
        {
            using var response = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{name}/tags/list", new("Bearer", token));
            await response.AssertErrorAsync(HttpStatusCode.NotFound, "NAME_UNKNOWN");
        }
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task TheFirstStartWithoutAPasswordWritesAGeneratedOneReadableByTheOwnerOnly()
    {
        await using var host = await RegistryHost.StartAsync(null, "--Registry:Access:Enabled=true");
        var file = Path.Combine(host.DataDirectory, AdminBootstrap.PasswordFileName);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        var password = File.ReadAllText(file).Trim();
        Assert.True(password.Length >= 20);
        var token = await AccessRegistry.TokenAsync(host, AdminBootstrap.AdminName, password, "registry:catalog:*");
        Assert.Equal(["registry:catalog:*"], AccessRegistry.GrantedScopes(token));
    }

    private static string Forge(string forgery, SigningKey trusted, string name)
    {
        // Not disposed: the token library caches signature providers by key id across calls.
        var ours = ECDsa.Create();
        ours.ImportPkcs8PrivateKey(trusted.PrivateKey, out _);
        var attacker = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var now = DateTime.UtcNow;
        var access = new List<object> { new Dictionary<string, object> { ["type"] = "repository", ["name"] = name, ["actions"] = new[] { "pull", "push" } } };
        string Sign(SigningCredentials? credentials, string issuer = "orleans-registry", string audience = "orleans-registry", DateTime? notBefore = null, DateTime? expires = null, Dictionary<string, object>? header = null)
            => new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
            {
                Issuer = issuer,
                Audience = audience,
                NotBefore = notBefore ?? now.AddMinutes(-1),
                Expires = expires ?? now.AddMinutes(5),
                IssuedAt = now,
                SigningCredentials = credentials,
                AdditionalHeaderClaims = header,
                Subject = new ClaimsIdentity([new Claim("sub", "admin")]),
                Claims = new Dictionary<string, object> { ["access"] = access },
            });
        var ourKey = new ECDsaSecurityKey(ours) { KeyId = trusted.KeyId };
        return forgery switch
        {
            "alg-none" => Sign(null),
            "hs256-with-public-key" => Sign(new SigningCredentials(new SymmetricSecurityKey(ours.ExportSubjectPublicKeyInfo()) { KeyId = trusted.KeyId }, SecurityAlgorithms.HmacSha256)),
            "unknown-kid" => Sign(new SigningCredentials(new ECDsaSecurityKey(attacker) { KeyId = "not-ours" }, SecurityAlgorithms.EcdsaSha256)),
            "embedded-jwk" => Sign(
                new SigningCredentials(new ECDsaSecurityKey(attacker) { KeyId = trusted.KeyId }, SecurityAlgorithms.EcdsaSha256),
                header: new Dictionary<string, object> { ["jwk"] = JsonSerializer.Deserialize<Dictionary<string, object>>(JsonSerializer.Serialize(JsonWebKeyConverter.ConvertFromECDsaSecurityKey(new ECDsaSecurityKey(attacker) { KeyId = trusted.KeyId })))! }),
            "wrong-issuer" => Sign(new SigningCredentials(ourKey, SecurityAlgorithms.EcdsaSha256), issuer: "someone-else"),
            "wrong-audience" => Sign(new SigningCredentials(ourKey, SecurityAlgorithms.EcdsaSha256), audience: "another-registry"),
            "expired" => Sign(new SigningCredentials(ourKey, SecurityAlgorithms.EcdsaSha256), notBefore: now.AddMinutes(-10), expires: now.AddSeconds(-61)),
            "new-key" => Sign(new SigningCredentials(ourKey, SecurityAlgorithms.EcdsaSha256)),
            "not-yet-valid" => Sign(new SigningCredentials(ourKey, SecurityAlgorithms.EcdsaSha256), notBefore: now.AddSeconds(90), expires: now.AddMinutes(10)),
            _ => "not.a.token",
        };
    }
}
