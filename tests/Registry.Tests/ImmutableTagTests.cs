using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Registry.Api.Access;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>
/// Immutable tag rules (docs/immutable-tags.md): a protected tag is pushed once and then neither
/// moved nor deleted, nor the manifest behind it; rules per namespace and registry, managed
/// through <c>/apis/registry/v1/…/immutabletagrules</c>.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ImmutableTagTests
{
    /// <summary>This class's registry (access control off): registry-scope rules here name this class's repositories only.</summary>
    private static readonly Lazy<Task<RegistryHost>> Host = new(() => RegistryHost.StartAsync());

    private static string NewNamespace() => "i" + Guid.NewGuid().ToString("N")[..12];

    [Theory]
    [InlineData("v*", "v1.2", true)]
    [InlineData("v*", "release", false)]
    [InlineData("*", "", true)]
    [InlineData("?", "", false)]
    [InlineData("v?.?", "v1.2", true)]
    [InlineData("v?.?", "v1.23", false)]
    [InlineData("*", "a/b", false)]
    [InlineData("**", "a/b", true)]
    [InlineData("**", "", true)]
    [InlineData("app/*", "app/web", true)]
    [InlineData("app/*", "app/web/x", false)]
    [InlineData("app/**", "app/web/x", true)]
    [InlineData("*/web", "team/web", true)]
    [InlineData("**/web", "a/b/web", true)]
    [InlineData("?", "/", false)]
    [InlineData("latest", "latest", true)]
    [InlineData("latest", "Latest", false)]
    [InlineData("a*b*c", "aXbYc", true)]
    [InlineData("a*b*c", "aXbY", false)]
    public void GlobsMatchWholeNamesWithStarsStoppingAtSlashes(string glob, string text, bool expected)
        => Assert.Equal(expected, Glob.IsMatch(glob, text));

    [Fact]
    public void AGlobOfManyStarsIsMatchedInLinearTime()
    {
        var glob = string.Concat(Enumerable.Repeat("*a", 60)) + "b";
        var started = System.Diagnostics.Stopwatch.StartNew();
        Assert.False(Glob.IsMatch(glob, new string('a', 255)));
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(1), $"took {started.Elapsed}");
    }

    [Fact]
    public async Task AProtectedTagIsPushedOnceThenNeitherMovedNorDeletedNorItsManifest()
    {
        var host = await Host.Value;
        var ns = NewNamespace();
        var name = $"{ns}/app";
        await PutRulesAsync(host.Client, ns, Rule("releases", "**", "v*"));

        // The first push of a protected tag is allowed, and so is a push of the digest it has.
        var (first, firstManifest) = await host.Client.PushImageAsync(name, "v1");
        using (var again = await host.Client.PutManifestAsync(name, "v1", firstManifest))
        {
            Assert.Equal(HttpStatusCode.Created, again.StatusCode);
        }

        // Moving it is 412 PRECONDITION, naming the rule and the tag; the tag stays.
        var (_, second) = await PushUntaggedAsync(host.Client, name);
        using (var moved = await host.Client.PutManifestAsync(name, "v1", second))
        {
            await AssertImmutableAsync(moved, "releases", $"{name}:v1");
        }

        Assert.Equal(first, await TagDigestAsync(host.Client, name, "v1"));
        Assert.All(await host.Service<IGrainFactory>().GetGrain<IRepositoryGrain>(name).GetTagHistory("v1"), h => Assert.Equal(first, h.Digest));

        // Deleting the tag, or the manifest behind it, is refused too.
        using (var deleteTag = await host.Client.DeleteAsync($"/v2/{name}/manifests/v1"))
        {
            await AssertImmutableAsync(deleteTag, "releases", $"{name}:v1");
        }

        using (var deleteManifest = await host.Client.DeleteAsync($"/v2/{name}/manifests/{first}"))
        {
            await AssertImmutableAsync(deleteManifest, "releases", $"{name}:v1");
        }

        Assert.Equal(first, await TagDigestAsync(host.Client, name, "v1"));

        // A tag no rule protects moves and goes, even on the protected manifest.
        using (var latest = await host.Client.PutManifestAsync(name, "latest", firstManifest))
        {
            Assert.Equal(HttpStatusCode.Created, latest.StatusCode);
        }

        using (var movedLatest = await host.Client.PutManifestAsync(name, "latest", second))
        {
            Assert.Equal(HttpStatusCode.Created, movedLatest.StatusCode);
        }

        using (var deleteLatest = await host.Client.DeleteAsync($"/v2/{name}/manifests/latest"))
        {
            Assert.Equal(HttpStatusCode.Accepted, deleteLatest.StatusCode);
        }

        // A manifest no protected tag points at may be deleted.
        using (var deleteSecond = await host.Client.DeleteAsync($"/v2/{name}/manifests/{Oci.Digest(second)}"))
        {
            Assert.Equal(HttpStatusCode.Accepted, deleteSecond.StatusCode);
        }
    }

    [Fact]
    public async Task OfConcurrentFirstPushesOfAProtectedTagOneWinsAndTheOthersAreRefused()
    {
        var host = await Host.Value;
        var ns = NewNamespace();
        var name = $"{ns}/race";
        await PutRulesAsync(host.Client, ns, Rule("once", "**", "release"));
        var images = new List<byte[]>();
        for (var i = 0; i < 6; i++)
        {
            images.Add((await PushUntaggedAsync(host.Client, name)).Manifest);
        }

        var responses = await Task.WhenAll(images.Select(m => host.Client.PutManifestAsync(name, "release", m)));
        try
        {
            var winners = responses.Where(r => r.StatusCode == HttpStatusCode.Created).ToArray();
            Assert.Single(winners);
            foreach (var refused in responses.Except(winners))
            {
                await AssertImmutableAsync(refused, "once", $"{name}:release");
            }

            Assert.Equal(winners[0].Header("Docker-Content-Digest"), await TagDigestAsync(host.Client, name, "release"));
            Assert.Single(await host.Service<IGrainFactory>().GetGrain<IRepositoryGrain>(name).GetTagHistory("release"));
        }
        finally
        {
            foreach (var response in responses)
            {
                response.Dispose();
            }
        }
    }

    [Fact]
    public async Task RepositoryGlobsAreRelativeToTheNamespace()
    {
        var host = await Host.Value;
        var ns = NewNamespace();
        await PutRulesAsync(host.Client, ns, Rule("apps", "apps/*", "*"));

        await host.Client.PushImageAsync($"{ns}/apps/web", "t");
        await host.Client.PushImageAsync($"{ns}/apps/web/deep", "t");
        await host.Client.PushImageAsync($"{ns}/other", "t");

        using (var protectedMove = await host.Client.PutManifestAsync($"{ns}/apps/web", "t", (await PushUntaggedAsync(host.Client, $"{ns}/apps/web")).Manifest))
        {
            await AssertImmutableAsync(protectedMove, "apps", $"{ns}/apps/web:t");
        }

        foreach (var free in new[] { $"{ns}/apps/web/deep", $"{ns}/other" })
        {
            using var moved = await host.Client.PutManifestAsync(free, "t", (await PushUntaggedAsync(host.Client, free)).Manifest);
            Assert.Equal(HttpStatusCode.Created, moved.StatusCode);
        }
    }

    [Fact]
    public async Task RegistryScopeRulesMatchFullNamesAndChangesTakeEffectOnTheNextPush()
    {
        var host = await Host.Value;
        var ns = NewNamespace();
        var name = $"{ns}/app";
        await host.Client.PushImageAsync(name, "stable");
        var (_, second) = await PushUntaggedAsync(host.Client, name);
        var (_, third) = await PushUntaggedAsync(host.Client, name);

        var stored = await PutRulesAsync(host.Client, null, Rule("pinned-" + ns, $"{ns}/**", "stable"));
        using (var refused = await host.Client.PutManifestAsync(name, "stable", second))
        {
            await AssertImmutableAsync(refused, "pinned-" + ns, $"{name}:stable");
        }

        // Deleting the rules frees the tag from the next push on.
        using (var deleted = await ApiAsync(host.Client, HttpMethod.Delete, $"/immutabletagrules?resourceVersion={stored}"))
        {
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        }

        using (var moved = await host.Client.PutManifestAsync(name, "stable", second))
        {
            Assert.Equal(HttpStatusCode.Created, moved.StatusCode);
        }

        // And rules set again hold from the next push on.
        await PutRulesAsync(host.Client, null, Rule("pinned-" + ns, $"{ns}/**", "stable"));
        using (var refusedAgain = await host.Client.PutManifestAsync(name, "stable", third))
        {
            await AssertImmutableAsync(refusedAgain, "pinned-" + ns, $"{name}:stable");
        }

        await PutRulesAsync(host.Client, null);
    }

    [Fact]
    public async Task WithoutRulesAPushCostsNoPolicyCall()
    {
        var calls = new GrainCallCounter();
        // A long refresh interval, so that a slow machine's late poll does not leave the cache untrusted mid-test.
        await using var host = await RegistryHost.StartAsync(null, b => b.Services.AddSingleton<IIncomingGrainCallFilter>(calls), "--Registry:Access:PolicyRefreshInterval=00:00:05");
        var name = SharedRegistry.UniqueName("free");
        var cache = host.Service<PolicyCache>();

        // The first poll, at the start, reads which scopes have rules (none): from then on nothing is asked per push.
        await host.Client.PushImageAsync(name, "warm");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (cache.Polls == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the policy cache never polled");
            await Task.Delay(20);
        }

        var before = calls.Snapshot();
        for (var i = 0; i < 10; i++)
        {
            await host.Client.PushImageAsync(name, $"t{i}");
        }

        var during = calls.Since(before);
        Assert.Equal(0, during.GetValueOrDefault(typeof(IPolicyGrain).FullName!));
        Assert.Equal(0, during.GetValueOrDefault(typeof(IImmutableTagScopesGrain).FullName!));
        Assert.True(during.GetValueOrDefault(typeof(IRepositoryGrain).FullName!) >= 10, "the counter saw the pushes");
    }

    [Fact]
    public async Task TheRulesResourceIsReadReplacedWithResourceVersionsAndDeleted()
    {
        var host = await Host.Value;
        var ns = NewNamespace();

        using (var empty = await ApiAsync(host.Client, HttpMethod.Get, $"/namespaces/{ns}/immutabletagrules"))
        {
            var body = await empty.JsonAsync(HttpStatusCode.OK);
            Assert.Equal("registry/v1", body.GetProperty("apiVersion").GetString());
            Assert.Equal("ImmutableTagRules", body.GetProperty("kind").GetString());
            Assert.Equal(ns, body.GetProperty("metadata").GetProperty("namespace").GetString());
            Assert.Empty(body.GetProperty("rules").EnumerateArray());
        }

        var first = await PutRulesAsync(host.Client, ns, Rule("a", "**", "v*"), new { name = "b", tags = "release-?" });
        using (var read = await ApiAsync(host.Client, HttpMethod.Get, $"/namespaces/{ns}/immutabletagrules"))
        {
            var body = await read.JsonAsync(HttpStatusCode.OK);
            Assert.Equal(first, body.GetProperty("metadata").GetProperty("resourceVersion").GetString());
            var rules = body.GetProperty("rules").EnumerateArray().ToArray();
            Assert.Equal(["a", "b"], rules.Select(r => r.GetProperty("name").GetString()));
            Assert.Equal("**", rules[1].GetProperty("repositories").GetString());
            Assert.Equal("release-?", rules[1].GetProperty("tags").GetString());
        }

        // A replacement at the version read wins; one at an older version is a conflict and changes nothing.
        var second = await PutRulesAsync(host.Client, ns, first, Rule("c", "**", "*"));
        using (var stale = await ApiAsync(host.Client, HttpMethod.Put, $"/namespaces/{ns}/immutabletagrules", Document(ns, first, Rule("d", "**", "*"))))
        {
            await stale.AssertStatusAsync(HttpStatusCode.Conflict, "Conflict");
        }

        using (var staleDelete = await ApiAsync(host.Client, HttpMethod.Delete, $"/namespaces/{ns}/immutabletagrules?resourceVersion={first}"))
        {
            await staleDelete.AssertStatusAsync(HttpStatusCode.Conflict, "Conflict");
        }

        Assert.Equal(["c"], (await StoredRulesAsync(host, ns)).Rules.Select(r => r.Name));

        using (var deleted = await ApiAsync(host.Client, HttpMethod.Delete, $"/namespaces/{ns}/immutabletagrules?resourceVersion={second}"))
        {
            Assert.Equal("Success", (await deleted.JsonAsync(HttpStatusCode.OK)).GetProperty("status").GetString());
        }

        Assert.Empty((await StoredRulesAsync(host, ns)).Rules);
        using var gone = await ApiAsync(host.Client, HttpMethod.Delete, $"/namespaces/{ns}/immutabletagrules");
        await gone.AssertStatusAsync(HttpStatusCode.NotFound, "NotFound");
    }

    [Fact]
    public async Task BadRulesAndBodiesAreRefusedAndChangeNothing()
    {
        var host = await Host.Value;
        var ns = NewNamespace();
        var version = await PutRulesAsync(host.Client, ns, Rule("keep", "**", "v*"));
        var path = $"/namespaces/{ns}/immutabletagrules";
        var tooMany = Enumerable.Range(0, ImmutableTagRule.MaxRules + 1).Select(i => Rule($"r{i}", "**", $"t{i}")).ToArray();

        (object Body, HttpStatusCode Code, string Reason)[] cases =
        [
            (Document(ns, null, tooMany), HttpStatusCode.UnprocessableEntity, "Invalid"),
            (Document(ns, null, Rule("long", "**", new string('v', ImmutableTagRule.MaxLength + 1))), HttpStatusCode.UnprocessableEntity, "Invalid"),
            (Document(ns, null, Rule("long", new string('r', ImmutableTagRule.MaxLength + 1), "v")), HttpStatusCode.UnprocessableEntity, "Invalid"),
            (Document(ns, null, Rule("braces", "**", "{a,b}")), HttpStatusCode.UnprocessableEntity, "Invalid"),
            (Document(ns, null, Rule("slash", "**", "a/b")), HttpStatusCode.UnprocessableEntity, "Invalid"),
            (Document(ns, null, Rule("Upper", "**", "v")), HttpStatusCode.UnprocessableEntity, "Invalid"),
            (Document(ns, null, new { tags = "v" }), HttpStatusCode.UnprocessableEntity, "Invalid"),
            (Document(ns, null, new { name = "notags" }), HttpStatusCode.UnprocessableEntity, "Invalid"),
            (Document(ns, null, Rule("twice", "**", "a"), Rule("twice", "**", "b")), HttpStatusCode.UnprocessableEntity, "Invalid"),
            (Document("other", null, Rule("x", "**", "v")), HttpStatusCode.BadRequest, "BadRequest"),
            (Document(ns, "nope", Rule("x", "**", "v")), HttpStatusCode.BadRequest, "BadRequest"),
            (new { apiVersion = "v1", kind = "ConfigMap" }, HttpStatusCode.BadRequest, "BadRequest"),
            ("{\"rules\":", HttpStatusCode.BadRequest, "BadRequest"),
            ("{\"rules\":[{\"name\":\"big\",\"tags\":\"" + new string('v', PolicyEndpoints.MaxBodyBytes) + "\"}]}", HttpStatusCode.RequestEntityTooLarge, "RequestEntityTooLarge"),
        ];
        foreach (var (body, code, reason) in cases)
        {
            using var response = await ApiAsync(host.Client, HttpMethod.Put, path, body);
            await response.AssertStatusAsync(code, reason);
        }

        using (var invalidName = await ApiAsync(host.Client, HttpMethod.Get, "/namespaces/Not_A_Namespace!/immutabletagrules"))
        {
            await invalidName.AssertStatusAsync(HttpStatusCode.BadRequest, "BadRequest");
        }

        using (var badVersion = await ApiAsync(host.Client, HttpMethod.Delete, $"{path}?resourceVersion=x"))
        {
            await badVersion.AssertStatusAsync(HttpStatusCode.BadRequest, "BadRequest");
        }

        // A body of exactly the limit's worth of the most rules with the longest globs still fits.
        var largest = Enumerable.Range(0, ImmutableTagRule.MaxRules)
            .Select(i => Rule($"r{i:D3}-" + new string('n', ImmutableTagRule.MaxLength - 5), new string('*', ImmutableTagRule.MaxLength), new string('t', ImmutableTagRule.MaxLength - 3) + i.ToString("D3")))
            .ToArray();
        Assert.True(JsonSerializer.SerializeToUtf8Bytes(Document(ns, version, largest)).Length <= PolicyEndpoints.MaxBodyBytes);

        var stored = await StoredRulesAsync(host, ns);
        Assert.Equal(["keep"], stored.Rules.Select(r => r.Name));
        Assert.Equal(version, stored.ResourceVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));

        await PutRulesAsync(host.Client, ns, version, largest);
        Assert.Equal(ImmutableTagRule.MaxRules, (await StoredRulesAsync(host, ns)).Rules.Count);
    }

    [Fact]
    public async Task OnlyAdminsOfTheScopeManageRulesAndAnonymousIsChallenged()
    {
        var host = await PolicyRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var ns = PolicyRegistry.NewNamespace();
        await PolicyRegistry.CreateNamespaceAsync(admin, ns);
        var (viewer, viewerAuth) = await PolicyRegistry.NewUserAsync(host);
        var (editor, editorAuth) = await PolicyRegistry.NewUserAsync(host);
        var (nsAdmin, nsAdminAuth) = await PolicyRegistry.NewUserAsync(host);
        await PolicyRegistry.BindAsync(admin, ns, Roles.Viewer, [PolicyRegistry.User(viewer)]);
        await PolicyRegistry.BindAsync(admin, ns, Roles.Editor, [PolicyRegistry.User(editor)]);
        await PolicyRegistry.BindAsync(admin, ns, Roles.Admin, [PolicyRegistry.User(nsAdmin)]);
        using var anonymous = PolicyRegistry.Client(host, null);
        using var asViewer = PolicyRegistry.Client(host, viewerAuth);
        using var asEditor = PolicyRegistry.Client(host, editorAuth);
        using var asNsAdmin = PolicyRegistry.Client(host, nsAdminAuth);
        var path = $"/namespaces/{ns}/immutabletagrules";

        foreach (var method in new[] { HttpMethod.Get, HttpMethod.Put, HttpMethod.Delete })
        {
            using (var challenged = await ApiAsync(anonymous, method, path, method == HttpMethod.Put ? Document(ns, null, Rule("x", "**", "v*")) : null))
            {
                await challenged.AssertStatusAsync(HttpStatusCode.Unauthorized, "Unauthorized");
                Assert.NotEmpty(challenged.Headers.WwwAuthenticate);
            }

            foreach (var client in new[] { asViewer, asEditor })
            {
                using var forbidden = await ApiAsync(client, method, path, method == HttpMethod.Put ? Document(ns, null, Rule("x", "**", "v*")) : null);
                await forbidden.AssertStatusAsync(HttpStatusCode.Forbidden, "Forbidden");
            }

            // The registry's rules need a registry admin.
            using var registryScope = await ApiAsync(asNsAdmin, method, "/immutabletagrules", method == HttpMethod.Put ? Document(null, null, Rule("x", "**", "v*")) : null);
            await registryScope.AssertStatusAsync(HttpStatusCode.Forbidden, "Forbidden");
        }

        Assert.Empty((await StoredRulesAsync(host, ns)).Rules);
        await PutRulesAsync(asNsAdmin, ns, Rule("releases", "**", "v*"));

        // The editor may push and delete, but not past the rule its admin set.
        var name = $"{ns}/app";
        var (digest, _) = await asEditor.PushImageAsync(name, "v1");
        var (_, other) = await PushUntaggedAsync(asEditor, name);
        using (var moved = await asEditor.PutManifestAsync(name, "v1", other))
        {
            await AssertImmutableAsync(moved, "releases", $"{name}:v1");
        }

        using (var deleted = await asEditor.DeleteAsync($"/v2/{name}/manifests/{digest}"))
        {
            await AssertImmutableAsync(deleted, "releases", $"{name}:v1");
        }

        using (var read = await ApiAsync(admin, HttpMethod.Get, path))
        {
            Assert.Single((await read.JsonAsync(HttpStatusCode.OK)).GetProperty("rules").EnumerateArray());
        }

        using var registryRules = await ApiAsync(admin, HttpMethod.Get, "/immutabletagrules");
        Assert.Equal("ImmutableTagRules", (await registryRules.JsonAsync(HttpStatusCode.OK)).GetProperty("kind").GetString());
    }

    internal static object Rule(string name, string repositories, string tags) => new { name, repositories, tags };

    internal static object Document(string? ns, string? resourceVersion, params object[] rules)
        => new Dictionary<string, object?>
        {
            ["apiVersion"] = "registry/v1",
            ["kind"] = "ImmutableTagRules",
            ["metadata"] = new Dictionary<string, object?> { ["namespace"] = ns, ["resourceVersion"] = resourceVersion }.Where(p => p.Value is not null).ToDictionary(),
            ["rules"] = rules,
        };

    internal static Task<HttpResponseMessage> ApiAsync(HttpClient client, HttpMethod method, string path, object? body = null)
        => PolicyRegistry.ApiAsync(client, method, path, body);

    /// <summary>Replaces the rules of <paramref name="ns"/> (the registry's when null) whatever their version; returns the new resourceVersion.</summary>
    internal static Task<string> PutRulesAsync(HttpClient client, string? ns, params object[] rules) => PutRulesAsync(client, ns, null, rules);

    internal static async Task<string> PutRulesAsync(HttpClient client, string? ns, string? resourceVersion, params object[] rules)
    {
        using var response = await ApiAsync(client, HttpMethod.Put, ns is null ? "/immutabletagrules" : $"/namespaces/{ns}/immutabletagrules", Document(ns, resourceVersion, rules));
        var body = await response.JsonAsync(HttpStatusCode.OK);
        Assert.Equal(rules.Length, body.GetProperty("rules").GetArrayLength());
        return body.GetProperty("metadata").GetProperty("resourceVersion").GetString()!;
    }

    /// <summary>Asserts 412 with the OCI code PRECONDITION and a detail that names the rule and the tag.</summary>
    internal static async Task AssertImmutableAsync(HttpResponseMessage response, string rule, string reference)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.PreconditionFailed, $"expected 412, got {(int)response.StatusCode}: {text}");
        var error = JsonDocument.Parse(text).RootElement.GetProperty("errors")[0];
        Assert.Equal("PRECONDITION", error.GetProperty("code").GetString());
        foreach (var field in new[] { "message", "detail" })
        {
            var said = error.GetProperty(field).GetString()!;
            Assert.Contains($"'{rule}'", said, StringComparison.Ordinal);
            Assert.Contains($"'{reference}'", said, StringComparison.Ordinal);
        }
    }

    /// <summary>Pushes an image's blobs and its manifest by digest; returns the manifest.</summary>
    internal static async Task<(string Digest, byte[] Manifest)> PushUntaggedAsync(HttpClient client, string name)
    {
        var config = Encoding.UTF8.GetBytes($"{{\"n\":\"{Guid.NewGuid():N}\"}}");
        var layer = Oci.RandomBytes(512);
        await client.PushBlobAsync(name, config);
        await client.PushBlobAsync(name, layer);
        var manifest = Oci.ImageManifest(config, [layer]);
        using var response = await client.PutManifestAsync(name, Oci.Digest(manifest), manifest);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (Oci.Digest(manifest), manifest);
    }

    internal static async Task<string> TagDigestAsync(HttpClient client, string name, string tag)
    {
        using var request = new HttpRequestMessage(HttpMethod.Head, $"/v2/{name}/manifests/{tag}");
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return response.Header("Docker-Content-Digest");
    }

    private static async Task<ImmutableTagRules> StoredRulesAsync(RegistryHost host, string ns)
        => (await host.Service<IGrainFactory>().GetGrain<IPolicyGrain>(ns).Get()).TagRules;

    /// <summary>Counts the calls each grain interface receives in the host's silo.</summary>
    private sealed class GrainCallCounter : IIncomingGrainCallFilter
    {
        private readonly ConcurrentDictionary<string, int> _calls = new();

        public Task Invoke(IIncomingGrainCallContext context)
        {
            _calls.AddOrUpdate(context.InterfaceMethod?.DeclaringType?.FullName ?? "", 1, (_, n) => n + 1);
            return context.Invoke();
        }

        public Dictionary<string, int> Snapshot() => new(_calls);

        public Dictionary<string, int> Since(Dictionary<string, int> before)
            => _calls.ToDictionary(c => c.Key, c => c.Value - before.GetValueOrDefault(c.Key));
    }
}
