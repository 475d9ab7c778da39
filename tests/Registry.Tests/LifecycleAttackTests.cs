using System.Net;
using System.Text;
using Registry.Api.Lifecycle;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>
/// The lifecycle endpoints (quotas, immutable tag rules, retention policies) and the garbage
/// collection endpoint under attack: callers reaching past their scope, bodies too large or too
/// deep, names and versions no client of this registry sends, durations and counts that overflow,
/// and dry-run flags that are not one. Each refusal is a Kubernetes Status and stores nothing.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class LifecycleAttackTests
{
    private const string GarbageCollections = "/garbagecollections";

    [Fact]
    public async Task ANamespaceAdminCannotChangeAnotherNamespacesOrTheRegistrysPoliciesNorCollectGarbage()
    {
        var (host, admin, ns) = await SceneAsync();
        var other = PolicyRegistry.NewNamespace();
        await PolicyRegistry.CreateNamespaceAsync(admin, other);
        var (name, auth) = await PolicyRegistry.NewUserAsync(host);
        await PolicyRegistry.BindAsync(admin, ns, "admin", [PolicyRegistry.User(name)]);
        await SeedAsync(admin, other);
        var before = await StateAsync(host, other);
        var registryBefore = await StateAsync(host, ScopePolicy.RegistryScope);
        var collectionBefore = await CollectionAsync(host);
        using var nsAdmin = PolicyRegistry.Client(host, auth);

        foreach (var (method, path, body) in Attempts(other).Concat(RegistryAttempts()))
        {
            using var response = await PolicyRegistry.ApiAsync(nsAdmin, method, path, body);
            await response.AssertStatusAsync(HttpStatusCode.Forbidden, "Forbidden");
        }

        Assert.Equal(before, await StateAsync(host, other));
        Assert.Equal(registryBefore, await StateAsync(host, ScopePolicy.RegistryScope));
        Assert.Equal(collectionBefore, await CollectionAsync(host));

        // Its own namespace it may change: the refusals above were of scope, not of the requests.
        await RetentionTests.PutPolicyAsync(nsAdmin, ns, "mine", new { keepLastPushed = 3 });
    }

    [Theory]
    [InlineData("anonymous")]
    [InlineData("viewer")]
    [InlineData("pusher")]
    public async Task APullerOrAnonymousCannotRunGarbageCollectionOrRetention(string role)
    {
        var (host, admin, ns) = await SceneAsync();
        await SeedAsync(admin, ns);
        var (user, auth) = await ImageApiRoleScene.CallerAsync(host, admin, ns, role);
        using var caller = PolicyRegistry.Client(host, auth);
        var collectionBefore = await CollectionAsync(host);
        var before = await StateAsync(host, ns);

        var attempts = new (HttpMethod, string, object?)[]
        {
            (HttpMethod.Post, GarbageCollections, new { kind = "GarbageCollection" }),
            (HttpMethod.Post, GarbageCollections, null),
            (HttpMethod.Get, GarbageCollections + "/last", null),
            (HttpMethod.Post, $"/namespaces/{ns}/retentionpolicies/seeded/run?dryRun=false", null),
            (HttpMethod.Post, "/retentionpolicies/any/run?dryRun=false", null),
        };
        foreach (var (method, path, body) in attempts)
        {
            using var response = await PolicyRegistry.ApiAsync(caller, method, path, body);
            if (user is null)
            {
                await response.AssertStatusAsync(HttpStatusCode.Unauthorized, "Unauthorized");
                Assert.NotEmpty(response.Headers.WwwAuthenticate);
            }
            else
            {
                await response.AssertStatusAsync(HttpStatusCode.Forbidden, "Forbidden");
            }
        }

        Assert.Equal(collectionBefore, await CollectionAsync(host));
        Assert.Equal(before, await StateAsync(host, ns));
        Assert.Equal(["a", "b"], (await admin.ListTagsAsync($"{ns}/app")).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task BodiesOverTheLimitAreRefusedWith413WhetherTheirLengthIsSaidOrNot()
    {
        var (host, admin, ns) = await SceneAsync();
        var before = await StateAsync(host, ns);
        var collectionBefore = await CollectionAsync(host);

        foreach (var (path, limit) in new[]
        {
            ($"/namespaces/{ns}/retentionpolicies/big", RetentionEndpoints.MaxBodyBytes),
            ($"/namespaces/{ns}/immutabletagrules", ImmutableTagEndpoints.MaxBodyBytes),
            ($"/namespaces/{ns}/quota", QuotaEndpoints.MaxBodyBytes),
            (GarbageCollections, 4096),
        })
        {
            var method = path == GarbageCollections ? HttpMethod.Post : HttpMethod.Put;

            // One byte too many, the length said: refused before the body is read.
            var padded = "{\"kind\":\"" + new string('x', limit) + "\"}";
            using (var said = await PolicyRegistry.ApiAsync(admin, method, path, padded))
            {
                await said.AssertStatusAsync(HttpStatusCode.RequestEntityTooLarge, "RequestEntityTooLarge");
            }

            // A chunked body that never ends: answered once the limit is passed, not read to its end.
            var (status, sent) = await RawHttp.SendEndlessChunkedAsync(host, method.Method, PolicyEndpointsPrefix + path, PolicyRegistry.Admin);
            Assert.Equal(413, status);
            Assert.True(sent < 64L * 1024 * 1024, $"{path}: {sent} bytes were sent before the answer");
        }

        Assert.Equal(before, await StateAsync(host, ns));
        Assert.Equal(collectionBefore, await CollectionAsync(host));
    }

    [Fact]
    public async Task DeeplyNestedJsonIsRefusedWith400()
    {
        var (host, admin, ns) = await SceneAsync();
        var before = await StateAsync(host, ns);
        var collectionBefore = await CollectionAsync(host);
        var deep = new string('[', 5000) + new string(']', 5000);

        foreach (var (method, path, body) in new[]
        {
            (HttpMethod.Put, $"/namespaces/{ns}/retentionpolicies/deep", "{\"spec\":{\"repositories\":" + deep + "}}"),
            (HttpMethod.Put, $"/namespaces/{ns}/immutabletagrules", "{\"rules\":" + deep + "}"),
            (HttpMethod.Put, $"/namespaces/{ns}/quota", "{\"spec\":{\"hard\":" + deep + "}}"),
            (HttpMethod.Post, GarbageCollections, "{\"spec\":" + new string('[', 1000) + new string(']', 1000) + "}"),
        })
        {
            using var response = await PolicyRegistry.ApiAsync(admin, method, path, body);
            await response.AssertStatusAsync(HttpStatusCode.BadRequest, "BadRequest");
        }

        Assert.Equal(before, await StateAsync(host, ns));
        Assert.Equal(collectionBefore, await CollectionAsync(host));
    }

    [Theory]
    [InlineData("keepPushedWithin", "3000000000d")]
    [InlineData("keepPushedWithin", "3000000000h")]
    [InlineData("keepPulledWithin", "9223372036854775807s")]
    [InlineData("keepPulledWithin", "99999999999999999999999m")]
    [InlineData("keepYoungerThan", "36501d")]
    [InlineData("keepYoungerThan", "36500d1s")]
    [InlineData("keepYoungerThan", "-1h")]
    [InlineData("keepYoungerThan", "1.5h")]
    [InlineData("keepYoungerThan", "1h ")]
    [InlineData("keepPushedWithin", "")]
    public async Task DurationsThatOverflowOrAreNoDurationAreInvalid(string field, string duration)
    {
        var (host, admin, ns) = await SceneAsync();
        using var response = await PolicyRegistry.ApiAsync(admin, HttpMethod.Put, $"/namespaces/{ns}/retentionpolicies/long", RetentionTests.Document(ns, "long", null, new Dictionary<string, object> { [field] = duration }));

        await response.AssertStatusAsync((HttpStatusCode)422, "Invalid");
        Assert.Empty(await host.Service<IGrainFactory>().GetGrain<IRetentionPolicyGrain>(ns).List());
    }

    [Theory]
    [InlineData("keepLastPushed", "2147483648", HttpStatusCode.BadRequest)]
    [InlineData("keepLastPushed", "-1", (HttpStatusCode)422)]
    [InlineData("keepLastPushed", "0", (HttpStatusCode)422)]
    [InlineData("keepLastPushed", "1e3", HttpStatusCode.BadRequest)]
    [InlineData("keepTagRevisions", "100001", (HttpStatusCode)422)]
    [InlineData("keepTagRevisions", "\"5\"", HttpStatusCode.BadRequest)]
    public async Task CountsOutOfRangeOrOfTheWrongTypeAreRefused(string field, string value, HttpStatusCode expected)
    {
        var (host, admin, ns) = await SceneAsync();
        var body = $"{{\"apiVersion\":\"registry/v1\",\"kind\":\"RetentionPolicy\",\"metadata\":{{\"name\":\"count\"}},\"spec\":{{\"{field}\":{value}}}}}";
        using var response = await PolicyRegistry.ApiAsync(admin, HttpMethod.Put, $"/namespaces/{ns}/retentionpolicies/count", body);

        await response.AssertStatusAsync(expected, expected == HttpStatusCode.BadRequest ? "BadRequest" : "Invalid");
        Assert.Empty(await host.Service<IGrainFactory>().GetGrain<IRetentionPolicyGrain>(ns).List());
    }

    [Fact]
    public async Task QuotaLimitsThatOverflowAreRefused()
    {
        var (host, admin, ns) = await SceneAsync();
        foreach (var (hard, expected) in new[]
        {
            ("{\"storage\":9223372036854775808}", HttpStatusCode.BadRequest),
            ("{\"storage\":1152921504606846977}", (HttpStatusCode)422),
            ("{\"storage\":-1}", (HttpStatusCode)422),
            ("{\"repositories\":2147483648}", (HttpStatusCode)422),
            ("{\"repositories\":1.5}", HttpStatusCode.BadRequest),
        })
        {
            using var response = await PolicyRegistry.ApiAsync(admin, HttpMethod.Put, $"/namespaces/{ns}/quota", $"{{\"apiVersion\":\"registry/v1\",\"kind\":\"NamespaceQuota\",\"spec\":{{\"hard\":{hard}}}}}");
            await response.AssertStatusAsync(expected, expected == HttpStatusCode.BadRequest ? "BadRequest" : "Invalid");
        }

        Assert.Null((await host.Service<IGrainFactory>().GetGrain<INamespaceUsageGrain>(ns).GetQuota()).Limits);
    }

    [Theory]
    [InlineData("keep%0A")]
    [InlineData("keep%0D%0Aset-cookie:x")]
    [InlineData("Keep")]
    [InlineData("a%2F..%2Fb")]
    [InlineData("-keep")]
    public async Task PolicyNamesThatAreNoDns1123NamesAreRefused(string escaped)
    {
        var (host, admin, ns) = await SceneAsync();
        using var response = await PolicyRegistry.ApiAsync(admin, HttpMethod.Put, $"/namespaces/{ns}/retentionpolicies/{escaped}", RetentionTests.Document(ns, null, null, new { keepLastPushed = 1 }));

        Assert.True(response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        if (response.StatusCode == HttpStatusCode.BadRequest)
        {
            await response.AssertStatusAsync(HttpStatusCode.BadRequest, "BadRequest");
        }

        Assert.Empty(await host.Service<IGrainFactory>().GetGrain<IRetentionPolicyGrain>(ns).List());
    }

    [Theory]
    [InlineData("/namespaces/{0}%0A/quota")]
    [InlineData("/namespaces/{0}%0A/immutabletagrules")]
    [InlineData("/namespaces/{0}%0A/retentionpolicies/keep")]
    [InlineData("/namespaces/{0}%0D%0A/quota")]
    public async Task NamespacesWithALineBreakAreRefused(string template)
    {
        var (host, admin, ns) = await SceneAsync();
        var path = string.Format(System.Globalization.CultureInfo.InvariantCulture, template, ns);
        object body = path.EndsWith("/quota", StringComparison.Ordinal)
            ? new { apiVersion = "registry/v1", kind = "NamespaceQuota", spec = new { hard = new { repositories = 1 } } }
            : path.EndsWith("rules", StringComparison.Ordinal)
                ? ImmutableTagTests.Document(null, null, new { name = "r", tags = "v*" })
                : RetentionTests.Document(null, "keep", null, new { keepLastPushed = 1 });
        using var response = await PolicyRegistry.ApiAsync(admin, HttpMethod.Put, path, body);

        await response.AssertStatusAsync(HttpStatusCode.BadRequest, "BadRequest");
        foreach (var scope in new[] { ns + "\n", ns + "\r\n" })
        {
            Assert.Equal((0, 0, false, 0L), await StateAsync(host, scope));
        }
    }

    [Theory]
    [InlineData("rule\n", "v*", "**")]
    [InlineData("Rule", "v*", "**")]
    [InlineData("rule", "v[0-9]", "**")]
    [InlineData("rule", "v*/x", "**")]
    [InlineData("rule", "v*", "a\\b")]
    [InlineData("rule", "", "**")]
    public async Task ImmutableTagRulesWithBadNamesOrGlobsAreInvalid(string name, string tags, string repositories)
    {
        var (host, admin, ns) = await SceneAsync();
        using var response = await PolicyRegistry.ApiAsync(admin, HttpMethod.Put, $"/namespaces/{ns}/immutabletagrules", ImmutableTagTests.Document(ns, null, new { name, tags, repositories }));

        await response.AssertStatusAsync((HttpStatusCode)422, "Invalid");
        Assert.Empty((await host.Service<IGrainFactory>().GetGrain<IPolicyGrain>(ns).Get()).TagRules.Rules);
    }

    [Fact]
    public async Task GlobsOverTheLengthLimitAreInvalidAndTheLongestWildcardGlobsMatchQuickly()
    {
        var (host, admin, ns) = await SceneAsync();
        var tooLong = new string('*', ImmutableTagRule.MaxLength + 1);
        using (var refused = await PolicyRegistry.ApiAsync(admin, HttpMethod.Put, $"/namespaces/{ns}/immutabletagrules", ImmutableTagTests.Document(ns, null, new { name = "long", tags = tooLong })))
        {
            await refused.AssertStatusAsync((HttpStatusCode)422, "Invalid");
        }

        using (var retention = await PolicyRegistry.ApiAsync(admin, HttpMethod.Put, $"/namespaces/{ns}/retentionpolicies/long", RetentionTests.Document(ns, "long", null, new { keepLastPushed = 1, keepTags = new[] { tooLong } })))
        {
            await retention.AssertStatusAsync((HttpStatusCode)422, "Invalid");
        }

        // The most a glob may be, stars and question marks that a backtracking matcher takes
        // exponential time on: the matcher is linear in the glob and the name, so a push under it answers.
        var worst = string.Concat(Enumerable.Repeat("*?", ImmutableTagRule.MaxLength / 2));
        await ImmutableTagTests.PutRulesAsync(admin, ns, new { name = "worst", tags = worst, repositories = "**" });
        var tag = new string('a', 127) + "b";
        await admin.PushImageAsync($"{ns}/app", tag, layers: 1);
        var (_, second) = await admin.PushImageAsync($"{ns}/app", "other", layers: 1);
        using var moved = await admin.PutManifestAsync($"{ns}/app", tag, second);
        await ImmutableTagTests.AssertImmutableAsync(moved, "worst", $"{ns}/app:{tag}");
        Assert.True(Glob.IsMatch(worst, tag));
        Assert.False(Glob.IsMatch(worst, new string('a', 63)));
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("0x10")]
    [InlineData("1e3")]
    [InlineData(" 1")]
    [InlineData("99999999999999999999")]
    [InlineData("+1")]
    public async Task ResourceVersionsThisRegistryNeverGaveAreRefused(string version)
    {
        var (host, admin, ns) = await SceneAsync();
        await SeedAsync(admin, ns);
        var before = await StateAsync(host, ns);

        using (var retention = await PolicyRegistry.ApiAsync(admin, HttpMethod.Put, $"/namespaces/{ns}/retentionpolicies/seeded", RetentionTests.Document(ns, "seeded", version, new { keepLastPushed = 1 })))
        {
            await retention.AssertStatusAsync(HttpStatusCode.BadRequest, "BadRequest");
        }

        using (var rules = await PolicyRegistry.ApiAsync(admin, HttpMethod.Put, $"/namespaces/{ns}/immutabletagrules", ImmutableTagTests.Document(ns, version)))
        {
            await rules.AssertStatusAsync(HttpStatusCode.BadRequest, "BadRequest");
        }

        using (var quota = await PolicyRegistry.ApiAsync(admin, HttpMethod.Put, $"/namespaces/{ns}/quota", new { apiVersion = "registry/v1", kind = "NamespaceQuota", metadata = new { resourceVersion = version }, spec = new { hard = new { repositories = 1 } } }))
        {
            Assert.True(quota.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.Conflict, $"{(int)quota.StatusCode}");
        }

        var query = Uri.EscapeDataString(version);
        foreach (var path in new[] { $"/namespaces/{ns}/retentionpolicies/seeded", $"/namespaces/{ns}/immutabletagrules", $"/namespaces/{ns}/quota" })
        {
            using var delete = await PolicyRegistry.ApiAsync(admin, HttpMethod.Delete, $"{path}?resourceVersion={query}");
            Assert.True(delete.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.Conflict, $"{path}: {(int)delete.StatusCode}");
            await delete.AssertStatusAsync(delete.StatusCode, delete.StatusCode == HttpStatusCode.BadRequest ? "BadRequest" : "Conflict");
        }

        Assert.Equal(before, await StateAsync(host, ns));
    }

    [Theory]
    [InlineData("TRUE")]
    [InlineData("1")]
    [InlineData("All")]
    [InlineData("false&dryRun=true")]
    [InlineData("fals%00e")]
    public async Task ARetentionRunsDryRunFlagMustBeTrueOrFalse(string flag)
    {
        var (host, admin, ns) = await SceneAsync();
        await SeedAsync(admin, ns);

        using var response = await PolicyRegistry.ApiAsync(admin, HttpMethod.Post, $"/namespaces/{ns}/retentionpolicies/seeded/run?dryRun={flag}");

        await response.AssertStatusAsync(HttpStatusCode.BadRequest, "BadRequest");
        Assert.Equal(["a", "b"], (await admin.ListTagsAsync($"{ns}/app")).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("{\"spec\":{\"dryRun\":\"yes\"}}")]
    [InlineData("{\"spec\":{\"dryRun\":1}}")]
    [InlineData("{\"spec\":{\"dryRun\":null}}")]
    [InlineData("{\"kind\":\"Namespace\"}")]
    [InlineData("{\"dryRun\":true}")]
    [InlineData("{\"spec\":{\"dryrun\":true}}")]
    [InlineData("[]")]
    [InlineData("not json")]
    public async Task AGarbageCollectionRequestThatIsNoneStartsNothing(string body)
    {
        var (host, admin, _) = await SceneAsync();
        var before = await CollectionAsync(host);

        using var response = await PolicyRegistry.ApiAsync(admin, HttpMethod.Post, GarbageCollections, body);

        await response.AssertStatusAsync(HttpStatusCode.BadRequest, "BadRequest");
        Assert.Equal(before, await CollectionAsync(host));
    }

    private const string PolicyEndpointsPrefix = Registry.Api.Access.PolicyEndpoints.Prefix;

    private static async Task<(RegistryHost Host, HttpClient Admin, string Namespace)> SceneAsync()
    {
        var host = await PolicyRegistry.GetAsync();
        var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var ns = PolicyRegistry.NewNamespace();
        await PolicyRegistry.CreateNamespaceAsync(admin, ns);
        return (host, admin, ns);
    }

    /// <summary>A retention policy, an immutable tag rule and a quota in <paramref name="ns"/>, and app:a and app:b pushed.</summary>
    private static async Task SeedAsync(HttpClient admin, string ns)
    {
        await admin.PushImageAsync($"{ns}/app", "a", layers: 1);
        await admin.PushImageAsync($"{ns}/app", "b", layers: 1);
        await RetentionTests.PutPolicyAsync(admin, ns, "seeded", new { keepLastPushed = 1 });
        await ImmutableTagTests.PutRulesAsync(admin, ns, new { name = "seeded", tags = "release-*" });
        using var quota = await PolicyRegistry.ApiAsync(admin, HttpMethod.Put, $"/namespaces/{ns}/quota", new { apiVersion = "registry/v1", kind = "NamespaceQuota", spec = new { hard = new { repositories = 100 } } });
        Assert.True(quota.IsSuccessStatusCode, await quota.Content.ReadAsStringAsync());
    }

    /// <summary>What a scope stores: its retention policies' versions, its immutable tag rules' version, whether it has a quota, and the quota's version.</summary>
    private static async Task<(long Retention, long Rules, bool Quota, long QuotaVersion)> StateAsync(RegistryHost host, string scope)
    {
        var grains = host.Service<IGrainFactory>();
        var policies = await grains.GetGrain<IRetentionPolicyGrain>(scope).List();
        var rules = (await grains.GetGrain<IPolicyGrain>(scope).Get()).TagRules;
        var quota = scope == ScopePolicy.RegistryScope ? null : await grains.GetGrain<INamespaceUsageGrain>(scope).GetQuota();
        return (policies.Sum(p => p.ResourceVersion), rules.ResourceVersion, quota?.Limits is not null, quota?.Version ?? 0);
    }

    private static async Task<(string? Running, string? Last)> CollectionAsync(RegistryHost host)
    {
        var status = await host.Service<IGrainFactory>().GetGrain<IGarbageCollectionGrain>(0).GetStatus();
        return (status.Running?.Id, status.Last?.Id);
    }

    /// <summary>Every change of another namespace's lifecycle objects.</summary>
    private static IEnumerable<(HttpMethod, string, object?)> Attempts(string ns) =>
    [
        (HttpMethod.Put, $"/namespaces/{ns}/retentionpolicies/seeded", RetentionTests.Document(ns, "seeded", null, new { keepLastPushed = 100 })),
        (HttpMethod.Put, $"/namespaces/{ns}/retentionpolicies/new", RetentionTests.Document(ns, "new", null, new { keepLastPushed = 1 })),
        (HttpMethod.Delete, $"/namespaces/{ns}/retentionpolicies/seeded", null),
        (HttpMethod.Post, $"/namespaces/{ns}/retentionpolicies/seeded/run?dryRun=false", null),
        (HttpMethod.Get, $"/namespaces/{ns}/retentionpolicies", null),
        (HttpMethod.Put, $"/namespaces/{ns}/immutabletagrules", ImmutableTagTests.Document(ns, null)),
        (HttpMethod.Delete, $"/namespaces/{ns}/immutabletagrules", null),
        (HttpMethod.Put, $"/namespaces/{ns}/quota", new { apiVersion = "registry/v1", kind = "NamespaceQuota", spec = new { hard = new { repositories = 0 } } }),
        (HttpMethod.Delete, $"/namespaces/{ns}/quota", null),
        (HttpMethod.Post, $"/namespaces/{ns}/quota/recount", null),
    ];

    /// <summary>Every change at registry scope, and garbage collection.</summary>
    private static IEnumerable<(HttpMethod, string, object?)> RegistryAttempts() =>
    [
        (HttpMethod.Put, "/retentionpolicies/everything", RetentionTests.Document(null, "everything", null, new { keepLastPushed = 1 })),
        (HttpMethod.Post, "/retentionpolicies/everything/run?dryRun=false", null),
        (HttpMethod.Put, "/immutabletagrules", ImmutableTagTests.Document(null, null, new { name = "all", tags = "*" })),
        (HttpMethod.Delete, "/immutabletagrules", null),
        (HttpMethod.Post, GarbageCollections, new { kind = "GarbageCollection" }),
        (HttpMethod.Get, GarbageCollections + "/last", null),
    ];
}
