using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Registry.Api.Access;
using Registry.Api.Events;
using Registry.Api.Extensions;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>Refused requests as events: in-process subscribers, opted-in webhooks, the admin-only watch, the audit budget.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class RefusalEventTests
{
    private const string AdminPassword = "refusal-events-admin-secret";

    private static readonly Lazy<Task<Fixture>> Shared = new(Fixture.StartAsync);

    private static AuthenticationHeaderValue Admin => AccessRegistry.Basic(AdminBootstrap.AdminName, AdminPassword);

    [Fact]
    public async Task ADeniedPushAndFailedLoginsEachBecomeOneEventWithTheirFieldsAndNoSecret()
    {
        var f = await Shared.Value;
        var host = f.Host;
        var (user, password) = await AccessRegistry.NewUserAsync(host);
        var wrong = "wrong-" + Guid.NewGuid().ToString("N");
        var other = SharedRegistry.UniqueName("rfe");
        var started = DateTimeOffset.UtcNow;

        using (var denied = await AccessRegistry.SendAsync(host, HttpMethod.Post, $"/v2/{other}/blobs/uploads/", AccessRegistry.Basic(user, password)))
        {
            Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        }

        using (var failed = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/auth/token?service=orleans-registry&scope=repository:{other}:pull", AccessRegistry.Basic(user, wrong)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, failed.StatusCode);
        }

        using (var bad = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{user}/app/tags/list", AccessRegistry.Basic(user, wrong)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, bad.StatusCode);
        }

        var token = await AccessRegistry.TokenAsync(host, user, password, $"repository:{user}/app:pull");
        using (var scope = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{other}/tags/list", new("Bearer", token)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, scope.StatusCode);
        }

        await Eventually.HoldsAsync(() => f.Recorder.Of(user).Count >= 4, "the four refusals reach the in-process subscriber");
        var events = f.Recorder.Of(user);
        Assert.Equal(4, events.Count);

        var push = Assert.Single(events, e => e.Action == AccessAudit.Denied);
        Assert.Equal((other, "POST", user), (push.Repository, push.Request.Method, push.Actor));
        Assert.Equal(new AccessRefusal(403, "forbidden", $"repository:{other}:pull,push", $"/v2/{other}/blobs/uploads/"), push.Refusal);
        Assert.StartsWith("127.0.0.1:", push.Request.Addr, StringComparison.Ordinal);
        Assert.InRange(push.Timestamp, started.AddSeconds(-1), DateTimeOffset.UtcNow);
        Assert.Equal(host.Authority, push.Source.Addr);

        var login = Assert.Single(events, e => e.Action == AccessAudit.LoginFailed);
        Assert.Equal((other, "GET"), (login.Repository, login.Request.Method));
        Assert.Equal(new AccessRefusal(401, "bad_credentials", $"repository:{other}:pull", "/auth/token"), login.Refusal);

        var basic = Assert.Single(events, e => e.Action == AccessAudit.Unauthorized && e.Refusal!.Reason == Authenticator.InvalidToken);
        Assert.Equal(($"{user}/app", $"/v2/{user}/app/tags/list"), (basic.Repository, basic.Refusal!.Path));
        Assert.Single(events, e => e.Action == AccessAudit.Unauthorized && e.Refusal!.Reason == "insufficient_scope" && e.Repository == other);

        // One record, two views: the event's id is the audit line's.
        var audited = (await AuditFile.ReadAsync(f.AuditPath)).Where(r => r.TryGetProperty("status", out _) && r.Str("actor") == user).Select(r => r.Str("id")!);
        Assert.Equal(audited.Order(StringComparer.Ordinal), events.Select(e => e.Id).Order(StringComparer.Ordinal));

        // The envelope shape of image events plus "refusal"; never the password or the token.
        using (var json = JsonDocument.Parse(EventEnvelope.SerializeEvent(push)))
        {
            var root = json.RootElement;
            Assert.Equal(("access.denied", user, other, "POST"), (root.Str("action"), root.GetProperty("actor").Str("name"), root.GetProperty("target").Str("repository"), root.GetProperty("request").Str("method")));
            Assert.Equal(403, root.GetProperty("refusal").GetProperty("status").GetInt32());
            Assert.Equal($"/v2/{other}/blobs/uploads/", root.GetProperty("refusal").Str("path"));
        }

        var ids = events.Select(e => e.Id).ToHashSet(StringComparer.Ordinal);
        await f.Refusals.WaitForAsync(d => d.Count(e => ids.Contains(e.Id)) >= 4, "the opted-in endpoint gets the four refusals");
        Assert.Equal(4, f.Refusals.Delivered.Count(e => ids.Contains(e.Id)));
        var texts = events.Select(e => Encoding.UTF8.GetString(EventEnvelope.SerializeEvent(e)))
            .Concat(f.Refusals.Posts.Select(p => Encoding.UTF8.GetString(p.Body)));
        Assert.All(texts, text =>
        {
            Assert.DoesNotContain(password, text, StringComparison.Ordinal);
            Assert.DoesNotContain(wrong, text, StringComparison.Ordinal);
            Assert.DoesNotContain(token, text, StringComparison.Ordinal);
        });

        // The endpoint that did not opt in gets image events only.
        using var client = new HttpClient { BaseAddress = host.BaseAddress, Timeout = Bounded.Timeout };
        client.DefaultRequestHeaders.Authorization = AccessRegistry.Basic(user, password);
        var blob = await client.PushBlobAsync($"{user}/app", Oci.RandomBytes(16));
        await f.Images.WaitForAsync(d => d.Any(e => e.Digest == blob), "the image endpoint gets the push");
        Assert.DoesNotContain(f.Images.Delivered, e => ids.Contains(e.Id) || e.Action.StartsWith("access.", StringComparison.Ordinal) || e.Action.StartsWith("login.", StringComparison.Ordinal));
    }

    [Fact]
    public async Task OnlyARegistryAdminWatchesRefusalEvents()
    {
        var f = await Shared.Value;
        var host = f.Host;
        var (user, password) = await AccessRegistry.NewUserAsync(host);
        var (intruder, intruderPassword) = await AccessRegistry.NewUserAsync(host);
        var path = $"/apis/registry/v1/watch?namespace={RegistryStreams.RefusalsKey}";

        using (var anonymous = await host.Client.GetAsync(path))
        {
            await AccessEnforcementTests.AssertStatusAsync(anonymous, HttpStatusCode.Unauthorized, "Unauthorized");
        }

        using (var forbidden = await AccessRegistry.SendAsync(host, HttpMethod.Get, path, AccessRegistry.Basic(user, password)))
        {
            await AccessEnforcementTests.AssertStatusAsync(forbidden, HttpStatusCode.Forbidden, "Forbidden");
        }

        using var userClient = new HttpClient { BaseAddress = host.BaseAddress, Timeout = Bounded.Timeout };
        userClient.DefaultRequestHeaders.Authorization = AccessRegistry.Basic(user, password);
        using var adminClient = new HttpClient { BaseAddress = host.BaseAddress, Timeout = Bounded.Timeout };
        adminClient.DefaultRequestHeaders.Authorization = Admin;
        await using var adminWatch = await WatchStream.OpenAsync(adminClient, $"namespace={RegistryStreams.RefusalsKey}");
        await using var userWatch = await WatchStream.OpenAsync(userClient, $"namespace={user}");

        // Refused on the user's own repository: the user's namespace watch does not show it, the admin's does.
        using (var denied = await AccessRegistry.SendAsync(host, HttpMethod.Post, $"/v2/{user}/app/blobs/uploads/", AccessRegistry.Basic(intruder, intruderPassword)))
        {
            Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        }

        var refused = (await adminWatch.ReadUntilAsync(e => e.Event == AccessAudit.Denied && e.Json.GetProperty("actor").Str("name") == intruder))[^1];
        Assert.Equal($"{user}/app", refused.Repository);
        Assert.Equal(403, refused.Json.GetProperty("refusal").GetProperty("status").GetInt32());
        Assert.StartsWith("127.0.0.1:", refused.Json.GetProperty("request").Str("addr"), StringComparison.Ordinal);

        var blob = await userClient.PushBlobAsync($"{user}/app", Oci.RandomBytes(16));
        var seen = await userWatch.NextAsync();
        Assert.Equal(("push", blob), (seen.Event, seen.Digest));
    }

    [Fact]
    public async Task TheAuditBudgetCapsRefusalEvents()
    {
        const int budget = 3;
        const int flood = 60;
        using var data = new TempDirectory();
        var auditPath = Path.Combine(data.Path, "audit.log");
        var recorder = new RefusalRecorder();
        await using var host = await RegistryHost.StartAsync(
            Path.Combine(data.Path, "registry"),
            builder => builder.Services.AddRegistryEventSubscriber(recorder),
            "--Registry:Access:Enabled=true",
            $"--Registry:Access:AdminPassword={AdminPassword}",
            $"--Registry:Audit:Path={auditPath}",
            $"--Registry:Access:AuditDenialsPerSecond={budget}");
        var name = SharedRegistry.UniqueName("flood");
        var secret = "forged-" + Guid.NewGuid().ToString("N");

        var started = Stopwatch.GetTimestamp();
        var statuses = await Task.WhenAll(Enumerable.Range(0, flood).Select(async _ =>
        {
            using var response = await AccessRegistry.SendAsync(host, HttpMethod.Get, $"/v2/{name}/tags/list", new("Bearer", secret));
            return response.StatusCode;
        }));
        var elapsed = Stopwatch.GetElapsedTime(started);
        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.Unauthorized, s));

        // Every refusal within the budget is audited and is an event; nothing beyond it is either.
        List<string> audited = [];
        await Poll.UntilAsync(
            async () =>
            {
                audited = [.. (await AuditFile.ReadAsync(auditPath)).Where(r => r.Str("path") == $"/v2/{name}/tags/list").Select(r => r.Str("id")!).Order(StringComparer.Ordinal)];
                return audited.Count > 0 && audited.SequenceEqual(recorder.All.Where(e => e.Repository == name).Select(e => e.Id).Order(StringComparer.Ordinal));
            },
            "the audited refusals and the events are the same ones");
        Assert.InRange(audited.Count, 1, budget * (1 + (int)Math.Ceiling(elapsed.TotalSeconds)));
        Assert.True(audited.Count < flood, $"{audited.Count} of {flood} refusals became events within {elapsed.TotalSeconds:F1} s");
        Assert.All(recorder.All, e => Assert.DoesNotContain(secret, Encoding.UTF8.GetString(EventEnvelope.SerializeEvent(e)), StringComparison.Ordinal));
    }

    [Fact]
    public void WebhookEndpointsGetRefusalEventsOnlyWhenTheyOptIn()
    {
        var refusal = new RegistryEvent("r1", DateTimeOffset.UtcNow, AccessAudit.Denied, new EventTarget(null, null, 0, "team/app", null, null, null), EventRequest.None, "alice", EventSourceReplica.None, 0)
        {
            Refusal = new AccessRefusal(403, "forbidden", "repository:team/app:pull,push", "/v2/team/app/blobs/uploads/"),
        };
        var image = refusal with { Action = RegistryEvent.Push, Refusal = null };

        Assert.False(new WebhookEndpointOptions().Accepts(refusal));
        Assert.True(new WebhookEndpointOptions().Accepts(image));
        Assert.True(new WebhookEndpointOptions { Refusals = true }.Accepts(refusal));
        Assert.False(new WebhookEndpointOptions { Refusals = true, IgnoredActions = [AccessAudit.Denied] }.Accepts(refusal));
        Assert.True(new WebhookEndpointOptions { Refusals = true, IgnoredActions = [AccessAudit.Denied] }.Accepts(image));

        // The image envelope is unchanged; a refusal carries its block.
        Assert.DoesNotContain("refusal", Encoding.UTF8.GetString(EventEnvelope.SerializeEvent(image)), StringComparison.Ordinal);
        Assert.Contains("\"refusal\":{\"status\":403,\"reason\":\"forbidden\"", Encoding.UTF8.GetString(EventEnvelope.SerializeEvent(refusal)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("repository:team/app:pull,push", "team/app")]
    [InlineData("registry:catalog:* repository:a/b:pull", "a/b")]
    [InlineData("registry:catalog:*", "")]
    [InlineData("", "")]
    [InlineData("repository:Not Valid:pull", "")]
    [InlineData("repository:nocolon", "")]
    public void ARefusalNamesTheRepositoryOfItsScope(string scope, string repository)
        => Assert.Equal(repository, RefusalEvents.RepositoryOf(scope));

    /// <summary>Keeps the refusal events an in-process subscriber is given.</summary>
    private sealed class RefusalRecorder : IRegistryEventSubscriber
    {
        private readonly ConcurrentQueue<RegistryEvent> _events = new();

        public IReadOnlyList<RegistryEvent> All => [.. _events];

        public IReadOnlyList<RegistryEvent> Of(string actor) => [.. _events.Where(e => e.Actor == actor)];

        public Task OnEventAsync(RegistryEvent e, CancellationToken ct)
        {
            if (e.IsRefusal)
            {
                _events.Enqueue(e);
            }

            return Task.CompletedTask;
        }
    }

    /// <summary>One registry with access control on, a recording subscriber, and two webhook endpoints: one opted in to refusals.</summary>
    private sealed record Fixture(RegistryHost Host, RefusalRecorder Recorder, string AuditPath, WebhookReceiver Refusals, WebhookReceiver Images)
    {
        public static async Task<Fixture> StartAsync()
        {
            var recorder = new RefusalRecorder();
            var auditPath = Path.Combine(Directory.CreateTempSubdirectory("registry-refusal-events-").FullName, "audit.log");
            var refusals = await WebhookReceiver.StartAsync();
            var images = await WebhookReceiver.StartAsync();
            var host = await RegistryHost.StartAsync(
                null,
                builder => builder.Services.AddRegistryEventSubscriber(recorder),
                [
                    "--Registry:Access:Enabled=true",
                    $"--Registry:Access:AdminPassword={AdminPassword}",
                    $"--Registry:Audit:Path={auditPath}",
                    .. Webhooks.Endpoint(0, Webhooks.UniqueEndpoint("refusals"), refusals.Url, ("Refusals", "true")),
                    .. Webhooks.Endpoint(1, Webhooks.UniqueEndpoint("images"), images.Url),
                ]);
            return new Fixture(host, recorder, auditPath, refusals, images);
        }
    }
}

/// <summary>Refusal events cross replicas in cluster mode (Azure Queue streams): a refusal answered by one replica reaches the admin watch on another.</summary>
[Trait("Category", TestCategories.Process)]
[Trait("Category", TestCategories.Azurite)]
public sealed class ClusterRefusalEventTests
{
    [Fact]
    public async Task ARefusalAnsweredByOneReplicaIsWatchedOnAnother()
    {
        const string secret = "cluster-refusal-admin-secret";
        await using var azurite = await Azurite.StartAsync();
        var cluster = "c" + Guid.NewGuid().ToString("N")[..12];
        (string, string)[] settings = [("Registry__Access__Enabled", "true"), ("Registry__Access__AdminPassword", secret)];
        await using var a = await RegistryProcess.StartAsync(azurite.ConnectionString, cluster, settings: settings);
        await using var b = await RegistryProcess.StartAsync(azurite.ConnectionString, cluster, settings: settings);

        using var admin = new HttpClient { BaseAddress = b.BaseAddress, Timeout = Bounded.Timeout };
        admin.DefaultRequestHeaders.Authorization = AccessRegistry.Basic(AdminBootstrap.AdminName, secret);
        await using var watch = await WatchStream.OpenAsync(admin, $"namespace={RegistryStreams.RefusalsKey}");

        var nobody = "nobody" + Guid.NewGuid().ToString("N")[..12];
        var wrong = "wrong-" + Guid.NewGuid().ToString("N");
        using (var refused = await a.Client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v2/team/app/blobs/uploads/") { Headers = { Authorization = AccessRegistry.Basic(nobody, wrong) } }))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        var seen = (await watch.ReadUntilAsync(e => e.Json.GetProperty("actor").TryGetProperty("name", out var n) && n.GetString() == nobody))[^1];
        Assert.Equal((AccessAudit.Unauthorized, "team/app"), (seen.Event, seen.Repository));
        Assert.Equal(a.Authority, seen.Json.GetProperty("source").Str("addr"));
        Assert.Equal(401, seen.Json.GetProperty("refusal").GetProperty("status").GetInt32());
        Assert.DoesNotContain(wrong, seen.Data, StringComparison.Ordinal);
    }
}
