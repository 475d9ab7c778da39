using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Registry.Api.Access;
using Registry.Api.Extensions;
using Registry.Api.Lifecycle;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>
/// Retention (docs/retention.md): pull times batched per HTTP host, retention policies managed
/// through <c>/apis/registry/v1/…/retentionpolicies</c>, and their runs, dry and applied.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class RetentionTests
{
    /// <summary>This class's registry (access control off, pulls flushed only when asked or at a stop).</summary>
    private static readonly Lazy<Task<(RegistryHost Host, RecordingSubscriber Events)>> Shared = new(async () =>
    {
        var events = new RecordingSubscriber();
        var host = await RegistryHost.StartAsync(null, b => b.Services.AddRegistryEventSubscriber(events), "--Registry:Retention:PullFlushInterval=01:00:00");
        return (host, events);
    });

    private static string NewNamespace() => "r" + Guid.NewGuid().ToString("N")[..12];

    [Theory]
    [InlineData("720h", 720 * 3600)]
    [InlineData("1h30m", 5400)]
    [InlineData("7d", 7 * 86400)]
    [InlineData("0s", 0)]
    [InlineData("90s", 90)]
    public void DurationsReadAsGoWritesThem(string text, long seconds)
        => Assert.Equal(TimeSpan.FromSeconds(seconds), RetentionDocuments.ParseDuration(text));

    [Theory]
    [InlineData("")]
    [InlineData("1")]
    [InlineData("h")]
    [InlineData("-1h")]
    [InlineData("1.5h")]
    [InlineData("1y")]
    [InlineData("36501d")]
    [InlineData("99999999999999999999h")]
    public void BadDurationsAreRefused(string text) => Assert.Null(RetentionDocuments.ParseDuration(text));

    [Fact]
    public async Task KeepLastPushedDryRunChangesNothingThenApplyDeletesTagsAndUntaggedManifestsWithEvents()
    {
        var (host, events) = await Shared.Value;
        var client = host.Client;
        var ns = NewNamespace();
        var name = $"{ns}/app";
        var pushed = new List<(string Tag, string Digest)>();
        foreach (var tag in new[] { "t1", "t2", "t3", "t4" })
        {
            pushed.Add((tag, (await client.PushImageAsync(name, tag)).Digest));
        }

        var other = $"{ns}/other";
        await client.PushImageAsync(other, "old");
        await client.PushImageAsync(other, "new");

        await PutPolicyAsync(client, ns, "last-two", new { repositories = new[] { "app" }, keepLastPushed = 2, untagged = "delete", keepYoungerThan = "0s" });

        // The dry run names what would go and changes nothing.
        var dry = await RunAsync(client, ns, "last-two", dryRun: true);
        Assert.True(dry.GetProperty("spec").GetProperty("dryRun").GetBoolean());
        var repository = Assert.Single(dry.GetProperty("status").GetProperty("repositories").EnumerateArray());
        Assert.Equal(name, repository.GetProperty("name").GetString());
        Assert.Equal(["t1", "t2"], repository.GetProperty("tagsDeleted").EnumerateArray().Select(t => t.GetProperty("tag").GetString()));
        Assert.Equal(new[] { pushed[0].Digest, pushed[1].Digest }.Order(StringComparer.Ordinal), repository.GetProperty("manifestsDeleted").EnumerateArray().Select(d => d.GetString()));
        Assert.Equal(1, dry.GetProperty("status").GetProperty("repositoriesExamined").GetInt32());
        foreach (var (tag, _) in pushed)
        {
            await ImmutableTagTests.TagDigestAsync(client, name, tag);
        }

        // Without dryRun=false a run stays dry.
        var defaulted = await RunAsync(client, ns, "last-two", dryRun: null);
        Assert.True(defaulted.GetProperty("spec").GetProperty("dryRun").GetBoolean());

        var applied = await RunAsync(client, ns, "last-two", dryRun: false);
        Assert.Equal(2, applied.GetProperty("status").GetProperty("tagsDeleted").GetInt32());
        Assert.Equal(2, applied.GetProperty("status").GetProperty("manifestsDeleted").GetInt32());
        foreach (var (tag, digest) in pushed.Take(2))
        {
            using var byTag = await client.GetAsync($"/v2/{name}/manifests/{tag}");
            Assert.Equal(HttpStatusCode.NotFound, byTag.StatusCode);
            using var byDigest = await client.GetAsync($"/v2/{name}/manifests/{digest}");
            Assert.Equal(HttpStatusCode.NotFound, byDigest.StatusCode);
            await events.WaitForAsync(e => e.Action == RegistryEvent.Delete && e.Repository == name && e.Target.Tag == tag);
            await events.WaitForAsync(e => e.Action == RegistryEvent.Delete && e.Repository == name && e.Target.Digest == digest && e.Target.Tag is null);
        }

        foreach (var (tag, digest) in pushed.Skip(2))
        {
            Assert.Equal(digest, await ImmutableTagTests.TagDigestAsync(client, name, tag));
        }

        // The policy named app only.
        await ImmutableTagTests.TagDigestAsync(client, other, "old");

        // A second run finds nothing left to do.
        var again = await RunAsync(client, ns, "last-two", dryRun: false);
        Assert.Empty(again.GetProperty("status").GetProperty("repositories").EnumerateArray());
    }

    [Fact]
    public async Task AnyKeepRuleRetainsATagAndImmutableTagsAndIndexChildrenAreAlwaysKept()
    {
        var (host, _) = await Shared.Value;
        var client = host.Client;
        var ns = NewNamespace();
        var name = $"{ns}/app";
        await ImmutableTagTests.PutRulesAsync(client, ns, ImmutableTagTests.Rule("releases", "**", "v*"));
        var v1 = await client.PushImageAsync(name, "v1");
        var stable = await client.PushImageAsync(name, "stable-1");
        var dev = await client.PushImageAsync(name, "dev-1");
        var amd = await ImmutableTagTests.PushUntaggedAsync(client, name);
        var arm = await ImmutableTagTests.PushUntaggedAsync(client, name);
        var index = Oci.Json(new { schemaVersion = 2, mediaType = Oci.IndexType, manifests = new[] { Entry(amd), Entry(arm) } });
        using (var put = await client.PutManifestAsync(name, "multi", index, Oci.IndexType))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        var latest = await client.PushImageAsync(name, "latest");
        var orphan = await ImmutableTagTests.PushUntaggedAsync(client, name);

        // keepLastPushed 1 keeps latest; keepTags keeps stable-*, multi; the immutable rule keeps v1.
        await PutPolicyAsync(client, ns, "mixed", new { keepLastPushed = 1, keepTags = new[] { "stable-*", "multi" }, untagged = "delete", keepYoungerThan = "0s" });
        var run = await RunAsync(client, ns, "mixed", dryRun: false);
        var repository = Assert.Single(run.GetProperty("status").GetProperty("repositories").EnumerateArray());
        Assert.Equal(["dev-1"], repository.GetProperty("tagsDeleted").EnumerateArray().Select(t => t.GetProperty("tag").GetString()));
        Assert.Equal(new[] { dev.Digest, orphan.Digest }.Order(StringComparer.Ordinal), repository.GetProperty("manifestsDeleted").EnumerateArray().Select(d => d.GetString()));

        Assert.Equal(v1.Digest, await ImmutableTagTests.TagDigestAsync(client, name, "v1"));
        Assert.Equal(stable.Digest, await ImmutableTagTests.TagDigestAsync(client, name, "stable-1"));
        Assert.Equal(latest.Digest, await ImmutableTagTests.TagDigestAsync(client, name, "latest"));
        foreach (var child in new[] { amd.Digest, arm.Digest })
        {
            using var get = await client.GetAsync($"/v2/{name}/manifests/{child}");
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        }
    }

    [Fact]
    public async Task UntaggedKeepLeavesManifestsAndKeepYoungerThanProtectsRecentPushes()
    {
        var (host, _) = await Shared.Value;
        var client = host.Client;
        var ns = NewNamespace();
        var name = $"{ns}/app";
        var old = await client.PushImageAsync(name, "old");
        await client.PushImageAsync(name, "new");

        await PutPolicyAsync(client, ns, "keep-untagged", new { keepLastPushed = 1 });
        var run = await RunAsync(client, ns, "keep-untagged", dryRun: false);
        Assert.Equal(0, run.GetProperty("status").GetProperty("manifestsDeleted").GetInt32());
        using (var kept = await client.GetAsync($"/v2/{name}/manifests/{old.Digest}"))
        {
            Assert.Equal(HttpStatusCode.OK, kept.StatusCode);
        }

        // The default keepYoungerThan (60m) keeps a manifest pushed a moment ago.
        await PutPolicyAsync(client, ns, "recent", new { untagged = "delete" });
        Assert.Equal(0, (await RunAsync(client, ns, "recent", dryRun: true)).GetProperty("status").GetProperty("manifestsDeleted").GetInt32());
        var later = await RunAtAsync(host, ns, "recent", DateTimeOffset.UtcNow.AddHours(2), dryRun: true);
        Assert.Equal([old.Digest], Assert.Single(later.Changed).Result.Manifests);
    }

    [Fact]
    public async Task PushedAndPulledWithinCountFromTheRunsClock()
    {
        var (host, _) = await Shared.Value;
        var client = host.Client;
        var ns = NewNamespace();
        var name = $"{ns}/app";
        var pulled = await client.PushImageAsync(name, "pulled");
        await client.PushImageAsync(name, "idle");
        using (var get = await client.GetAsync($"/v2/{name}/manifests/pulled"))
        {
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        }

        await host.Service<PullRecorder>().FlushAsync();
        await PutPolicyAsync(client, ns, "pulls", new { keepPulledWithin = "24h" });
        await PutPolicyAsync(client, ns, "pushes", new { keepPushedWithin = "24h" });

        // Now: pushed within a day, both kept by "pushes"; only the pulled one by "pulls".
        Assert.Empty((await RunAtAsync(host, ns, "pushes", DateTimeOffset.UtcNow, dryRun: true)).Changed);
        Assert.Equal(["idle"], Assert.Single((await RunAtAsync(host, ns, "pulls", DateTimeOffset.UtcNow, dryRun: true)).Changed).Result.Tags.Select(t => t.Tag));

        // Two days on, nothing was pushed or pulled within a day.
        var later = DateTimeOffset.UtcNow.AddDays(2);
        Assert.Equal(["idle", "pulled"], Assert.Single((await RunAtAsync(host, ns, "pushes", later, dryRun: true)).Changed).Result.Tags.Select(t => t.Tag));
        Assert.Equal(["idle", "pulled"], Assert.Single((await RunAtAsync(host, ns, "pulls", later, dryRun: true)).Changed).Result.Tags.Select(t => t.Tag));
        Assert.Equal(pulled.Digest, await ImmutableTagTests.TagDigestAsync(client, name, "pulled"));
    }

    [Fact]
    public async Task TagHistoryBeyondTheNewestRevisionsIsDroppedAndItsManifestsBecomeUntagged()
    {
        var (host, _) = await Shared.Value;
        var client = host.Client;
        var ns = NewNamespace();
        var name = $"{ns}/app";
        var revisions = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            revisions.Add((await client.PushImageAsync(name, "t")).Digest);
        }

        await PutPolicyAsync(client, ns, "history", new { keepTagRevisions = 2, keepYoungerThan = "0s", untagged = "delete" });
        var run = await RunAsync(client, ns, "history", dryRun: false);
        var repository = Assert.Single(run.GetProperty("status").GetProperty("repositories").EnumerateArray());
        Assert.Empty(repository.GetProperty("tagsDeleted").EnumerateArray());
        Assert.Equal(revisions.Take(2), repository.GetProperty("historyDropped").EnumerateArray().Select(h => h.GetProperty("digest").GetString()));
        Assert.Equal(revisions.Take(2).Order(StringComparer.Ordinal), repository.GetProperty("manifestsDeleted").EnumerateArray().Select(d => d.GetString()));

        var history = await host.Service<IGrainFactory>().GetGrain<IRepositoryGrain>(name).GetTagHistory("t");
        Assert.Equal(revisions.Skip(2).Reverse(), history.Select(h => h.Digest));
        using var previous = await client.GetAsync($"/v2/{name}/manifests/{revisions[2]}");
        Assert.Equal(HttpStatusCode.OK, previous.StatusCode);

        // keepYoungerThan keeps young history entries beyond the newest N.
        await client.PushImageAsync(name, "t");
        await PutPolicyAsync(client, ns, "young", new { keepTagRevisions = 1, keepYoungerThan = "1h" });
        Assert.Empty((await RunAsync(client, ns, "young", dryRun: true)).GetProperty("status").GetProperty("repositories").EnumerateArray());
    }

    [Fact]
    public async Task RegistryPoliciesMatchFullNames()
    {
        var (host, _) = await Shared.Value;
        var client = host.Client;
        var ns = NewNamespace();
        await client.PushImageAsync($"{ns}/a/web", "x");
        await client.PushImageAsync($"{ns}/a/web", "y");
        await client.PushImageAsync($"{ns}/b", "x");
        await client.PushImageAsync($"{ns}/b", "y");
        var policy = "p" + ns;
        await PutPolicyAsync(client, null, policy, new { repositories = new[] { $"{ns}/*/web" }, keepLastPushed = 1 });
        try
        {
            var dry = await RunAsync(client, null, policy, dryRun: true);
            var repository = Assert.Single(dry.GetProperty("status").GetProperty("repositories").EnumerateArray());
            Assert.Equal($"{ns}/a/web", repository.GetProperty("name").GetString());
        }
        finally
        {
            using var deleted = await PolicyRegistry.ApiAsync(client, HttpMethod.Delete, $"/retentionpolicies/{policy}");
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        }
    }

    [Fact]
    public async Task PoliciesAreListedReadReplacedWithResourceVersionsAndDeleted()
    {
        var (host, _) = await Shared.Value;
        var client = host.Client;
        var ns = NewNamespace();
        var path = $"/namespaces/{ns}/retentionpolicies";

        using (var empty = await PolicyRegistry.ApiAsync(client, HttpMethod.Get, path))
        {
            var list = await empty.JsonAsync(HttpStatusCode.OK);
            Assert.Equal("RetentionPolicyList", list.GetProperty("kind").GetString());
            Assert.Empty(list.GetProperty("items").EnumerateArray());
        }

        var created = await PutPolicyAsync(client, ns, "keep", new { keepLastPushed = 5, keepPulledWithin = "168h", keepTags = new[] { "v*" } });
        var version = created.GetProperty("metadata").GetProperty("resourceVersion").GetString()!;
        var spec = created.GetProperty("spec");
        Assert.Equal("168h", spec.GetProperty("keepPulledWithin").GetString());
        Assert.Equal("keep", spec.GetProperty("untagged").GetString());
        Assert.Equal("1h", spec.GetProperty("keepYoungerThan").GetString());
        Assert.Equal(["**"], spec.GetProperty("repositories").EnumerateArray().Select(r => r.GetString()));

        using (var read = await PolicyRegistry.ApiAsync(client, HttpMethod.Get, $"{path}/keep"))
        {
            Assert.Equal(version, (await read.JsonAsync(HttpStatusCode.OK)).GetProperty("metadata").GetProperty("resourceVersion").GetString());
        }

        // A stale resourceVersion is a Conflict and changes nothing.
        var replaced = await PutPolicyAsync(client, ns, "keep", new { keepLastPushed = 3 }, version);
        using (var stale = await PolicyRegistry.ApiAsync(client, HttpMethod.Put, $"{path}/keep", Document(ns, "keep", version, new { keepLastPushed = 1 })))
        {
            await stale.AssertStatusAsync(HttpStatusCode.Conflict, "Conflict");
        }

        Assert.Equal(3, (await StoredAsync(host, ns, "keep"))!.Rules.KeepLastPushed);
        await PutPolicyAsync(client, ns, "second", new { untagged = "delete" });
        using (var listed = await PolicyRegistry.ApiAsync(client, HttpMethod.Get, path))
        {
            Assert.Equal(["keep", "second"], (await listed.JsonAsync(HttpStatusCode.OK)).GetProperty("items").EnumerateArray().Select(i => i.GetProperty("metadata").GetProperty("name").GetString()));
        }

        using (var staleDelete = await PolicyRegistry.ApiAsync(client, HttpMethod.Delete, $"{path}/keep?resourceVersion={version}"))
        {
            await staleDelete.AssertStatusAsync(HttpStatusCode.Conflict, "Conflict");
        }

        var current = replaced.GetProperty("metadata").GetProperty("resourceVersion").GetString();
        using (var deleted = await PolicyRegistry.ApiAsync(client, HttpMethod.Delete, $"{path}/keep?resourceVersion={current}"))
        {
            Assert.Equal("Success", (await deleted.JsonAsync(HttpStatusCode.OK)).GetProperty("status").GetString());
        }

        using (var gone = await PolicyRegistry.ApiAsync(client, HttpMethod.Get, $"{path}/keep"))
        {
            await gone.AssertStatusAsync(HttpStatusCode.NotFound, "NotFound");
        }

        using (var goneAgain = await PolicyRegistry.ApiAsync(client, HttpMethod.Delete, $"{path}/keep"))
        {
            await goneAgain.AssertStatusAsync(HttpStatusCode.NotFound, "NotFound");
        }

        using var runMissing = await PolicyRegistry.ApiAsync(client, HttpMethod.Post, $"{path}/keep/run?dryRun=true");
        await runMissing.AssertStatusAsync(HttpStatusCode.NotFound, "NotFound");
    }

    [Fact]
    public async Task BadPoliciesAndBodiesAreRefusedAndChangeNothing()
    {
        var (host, _) = await Shared.Value;
        var client = host.Client;
        var ns = NewNamespace();
        var path = $"/namespaces/{ns}/retentionpolicies/p";
        var invalid = new object[]
        {
            new { keepLastPushed = 0 },
            new { keepLastPushed = RetentionDocuments.MaxCount + 1 },
            new { keepTagRevisions = 0 },
            new { keepPushedWithin = "a week" },
            new { keepPulledWithin = "-1h" },
            new { keepYoungerThan = "36501d" },
            new { untagged = "maybe" },
            new { keepTags = new[] { "a/b" } },
            new { keepTags = new[] { "v[0-9]" } },
            new { repositories = Array.Empty<string>() },
            new { repositories = new[] { "app/{a,b}" } },
            new { keepTags = Enumerable.Repeat("v*", RetentionPolicy.MaxGlobs + 1).ToArray() },
        };
        foreach (var spec in invalid)
        {
            using var refused = await PolicyRegistry.ApiAsync(client, HttpMethod.Put, path, Document(ns, "p", null, spec));
            await refused.AssertStatusAsync((HttpStatusCode)422, "Invalid");
        }

        var badRequests = new object[]
        {
            "not json",
            new { apiVersion = "registry/v1", kind = "ImmutableTagRules", spec = new { } },
            new { metadata = new { name = "other" }, spec = new { } },
            new { metadata = new { @namespace = "elsewhere" }, spec = new { } },
            new { metadata = new { resourceVersion = "x" }, spec = new { } },
        };
        foreach (var body in badRequests)
        {
            using var refused = await PolicyRegistry.ApiAsync(client, HttpMethod.Put, path, body);
            await refused.AssertStatusAsync(HttpStatusCode.BadRequest, "BadRequest");
        }

        using (var noSpec = await PolicyRegistry.ApiAsync(client, HttpMethod.Put, path, new { kind = "RetentionPolicy" }))
        {
            await noSpec.AssertStatusAsync((HttpStatusCode)422, "Invalid");
        }

        using (var badName = await PolicyRegistry.ApiAsync(client, HttpMethod.Put, $"/namespaces/{ns}/retentionpolicies/Bad_Name", Document(ns, null, null, new { })))
        {
            await badName.AssertStatusAsync(HttpStatusCode.BadRequest, "BadRequest");
        }

        using (var large = new HttpRequestMessage(HttpMethod.Put, PolicyEndpoints.Prefix + path))
        {
            large.Content = new StringContent("{\"spec\":{\"keepTags\":[\"" + new string('a', RetentionEndpoints.MaxBodyBytes) + "\"]}}", Encoding.UTF8, "application/json");
            using var tooLarge = await client.SendAsync(large);
            await tooLarge.AssertStatusAsync(HttpStatusCode.RequestEntityTooLarge, "RequestEntityTooLarge");
        }

        using (var text = new HttpRequestMessage(HttpMethod.Put, PolicyEndpoints.Prefix + path))
        {
            text.Content = new StringContent("{}", Encoding.UTF8, "text/plain");
            using var unsupported = await client.SendAsync(text);
            await unsupported.AssertStatusAsync(HttpStatusCode.UnsupportedMediaType, "UnsupportedMediaType");
        }

        Assert.Empty(await host.Service<IGrainFactory>().GetGrain<IRetentionPolicyGrain>(ns).List());

        // The number of policies per scope is bounded.
        for (var i = 0; i < RetentionPolicy.MaxPolicies; i++)
        {
            await PutPolicyAsync(client, ns, $"p{i}", new { untagged = "keep" });
        }

        using (var tooMany = await PolicyRegistry.ApiAsync(client, HttpMethod.Put, $"/namespaces/{ns}/retentionpolicies/one-more", Document(ns, null, null, new { })))
        {
            await tooMany.AssertStatusAsync((HttpStatusCode)422, "Invalid");
        }

        using var badDryRun = await PolicyRegistry.ApiAsync(client, HttpMethod.Post, $"/namespaces/{ns}/retentionpolicies/p0/run?dryRun=maybe");
        await badDryRun.AssertStatusAsync(HttpStatusCode.BadRequest, "BadRequest");
        Assert.Equal(RetentionPolicy.MaxPolicies, (await host.Service<IGrainFactory>().GetGrain<IRetentionPolicyGrain>(ns).List()).Count);
    }

    [Fact]
    public async Task OnlyAdminsOfTheScopeManageAndRunPolicies()
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
        await asEditor.PushImageAsync($"{ns}/app", "a");
        await asEditor.PushImageAsync($"{ns}/app", "b");
        await PutPolicyAsync(admin, ns, "existing", new { keepLastPushed = 1 });

        var verbs = new (HttpMethod Method, string Path, object? Body)[]
        {
            (HttpMethod.Get, "", null),
            (HttpMethod.Get, "/existing", null),
            (HttpMethod.Put, "/new", Document(ns, "new", null, new { keepLastPushed = 1 })),
            (HttpMethod.Post, "/existing/run?dryRun=false", null),
            (HttpMethod.Delete, "/existing", null),
        };
        foreach (var (method, suffix, body) in verbs)
        {
            var path = $"/namespaces/{ns}/retentionpolicies{suffix}";
            using (var challenged = await PolicyRegistry.ApiAsync(anonymous, method, path, body))
            {
                await challenged.AssertStatusAsync(HttpStatusCode.Unauthorized, "Unauthorized");
                Assert.NotEmpty(challenged.Headers.WwwAuthenticate);
            }

            foreach (var client in new[] { asViewer, asEditor })
            {
                using var forbidden = await PolicyRegistry.ApiAsync(client, method, path, body);
                await forbidden.AssertStatusAsync(HttpStatusCode.Forbidden, "Forbidden");
            }

            // The registry's policies need a registry admin.
            var registryPath = $"/retentionpolicies{suffix}";
            using var registryScope = await PolicyRegistry.ApiAsync(asNsAdmin, method, registryPath, body is null ? null : Document(null, "new", null, new { keepLastPushed = 1 }));
            await registryScope.AssertStatusAsync(HttpStatusCode.Forbidden, "Forbidden");
        }

        // Nothing was changed or deleted by the refused calls.
        Assert.Equal(["existing"], (await host.Service<IGrainFactory>().GetGrain<IRetentionPolicyGrain>(ns).List()).Select(p => p.Name));
        Assert.NotNull(await ImmutableTagTests.TagDigestAsync(asEditor, $"{ns}/app", "a"));

        // The namespace's admin may do each.
        foreach (var (method, suffix, body) in verbs)
        {
            using var allowed = await PolicyRegistry.ApiAsync(asNsAdmin, method, $"/namespaces/{ns}/retentionpolicies{suffix}", body);
            Assert.True(allowed.IsSuccessStatusCode, $"{method} {suffix}: {(int)allowed.StatusCode} {await allowed.Content.ReadAsStringAsync()}");
        }

        using var registryList = await PolicyRegistry.ApiAsync(admin, HttpMethod.Get, "/retentionpolicies");
        Assert.Equal("RetentionPolicyList", (await registryList.JsonAsync(HttpStatusCode.OK)).GetProperty("kind").GetString());
    }

    internal static object Document(string? ns, string? name, string? resourceVersion, object spec)
        => new Dictionary<string, object?>
        {
            ["apiVersion"] = "registry/v1",
            ["kind"] = "RetentionPolicy",
            ["metadata"] = new Dictionary<string, object?> { ["name"] = name, ["namespace"] = ns, ["resourceVersion"] = resourceVersion }.Where(p => p.Value is not null).ToDictionary(),
            ["spec"] = spec,
        };

    /// <summary>Creates or replaces a policy of <paramref name="ns"/> (the registry's when null); returns the stored document.</summary>
    internal static async Task<JsonElement> PutPolicyAsync(HttpClient client, string? ns, string name, object spec, string? resourceVersion = null)
    {
        var path = ns is null ? $"/retentionpolicies/{name}" : $"/namespaces/{ns}/retentionpolicies/{name}";
        using var response = await PolicyRegistry.ApiAsync(client, HttpMethod.Put, path, Document(ns, name, resourceVersion, spec));
        var body = await response.JsonAsync(HttpStatusCode.OK);
        Assert.Equal(name, body.GetProperty("metadata").GetProperty("name").GetString());
        return body;
    }

    /// <summary>Runs a policy over HTTP; <paramref name="dryRun"/> null leaves the parameter out.</summary>
    internal static async Task<JsonElement> RunAsync(HttpClient client, string? ns, string name, bool? dryRun)
    {
        var path = (ns is null ? $"/retentionpolicies/{name}/run" : $"/namespaces/{ns}/retentionpolicies/{name}/run") + (dryRun is { } d ? $"?dryRun={(d ? "true" : "false")}" : "");
        using var response = await PolicyRegistry.ApiAsync(client, HttpMethod.Post, path);
        var body = await response.JsonAsync(HttpStatusCode.OK);
        Assert.Equal("RetentionRun", body.GetProperty("kind").GetString());
        return body;
    }

    /// <summary>Runs a stored policy with the run's clock at <paramref name="now"/> (as if that much time had passed).</summary>
    internal static async Task<RetentionRunReport> RunAtAsync(RegistryHost host, string? ns, string name, DateTimeOffset now, bool dryRun)
    {
        var policy = await StoredAsync(host, ns, name);
        Assert.NotNull(policy);
        return await host.Service<RetentionRunner>().RunAsync(ns, policy, dryRun, now, CancellationToken.None);
    }

    private static async Task<RetentionPolicy?> StoredAsync(RegistryHost host, string? ns, string name)
        => await host.Service<IGrainFactory>().GetGrain<IRetentionPolicyGrain>(ns ?? ScopePolicy.RegistryScope).Get(name);

    private static object Entry((string Digest, byte[] Manifest) m) => new { mediaType = Oci.ManifestType, digest = m.Digest, size = m.Manifest.Length };
}
