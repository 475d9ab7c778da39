using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Registry.Api.Access;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>A registry with access control on and namespaces created by first pushes, shared by the policy tests; each test uses its own namespaces and accounts.</summary>
public static class PolicyRegistry
{
    private static readonly Lazy<Task<RegistryHost>> Host = new(() => RegistryHost.StartAsync(
        null,
        "--Registry:Access:Enabled=true",
        $"--Registry:Access:AdminPassword={AccessRegistry.AdminPassword}",
        "--Registry:Access:CreateNamespaceOnPush=true"));

    public static Task<RegistryHost> GetAsync() => Host.Value;

    public static AuthenticationHeaderValue Admin => AccessRegistry.Basic(AdminBootstrap.AdminName, AccessRegistry.AdminPassword);

    public static string NewNamespace() => "p" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>A new account (no admin) in <paramref name="groups"/>; returns its Basic credentials and name.</summary>
    public static async Task<(string Name, AuthenticationHeaderValue Auth)> NewUserAsync(RegistryHost host, params string[] groups)
    {
        var name = "u" + Guid.NewGuid().ToString("N")[..12];
        var password = Guid.NewGuid().ToString("N");
        Assert.True(await host.Service<IGrainFactory>().GetGrain<IAccountGrain>(name).Create(PasswordHashing.Hash(password), groups, isAdmin: false));
        return (name, AccessRegistry.Basic(name, password));
    }

    public static HttpClient Client(RegistryHost host, AuthenticationHeaderValue? auth)
    {
        var client = new HttpClient { BaseAddress = host.BaseAddress, Timeout = TimeSpan.FromMinutes(1) };
        client.DefaultRequestHeaders.Authorization = auth;
        return client;
    }

    /// <summary>A request to the management API with a JSON body (a string is sent as it is).</summary>
    public static async Task<HttpResponseMessage> ApiAsync(HttpClient client, HttpMethod method, string path, object? body = null)
    {
        using var request = new HttpRequestMessage(method, PolicyEndpoints.Prefix + path);
        if (body is not null)
        {
            request.Content = new StringContent(body as string ?? JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
        }

        return await client.SendAsync(request);
    }

    public static async Task<JsonElement> JsonAsync(this HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Asserts a Kubernetes Status failure with <paramref name="code"/> and <paramref name="reason"/>.</summary>
    public static async Task AssertStatusAsync(this HttpResponseMessage response, HttpStatusCode code, string reason)
    {
        var status = await response.JsonAsync(code);
        Assert.Equal("Status", status.GetProperty("kind").GetString());
        Assert.Equal("Failure", status.GetProperty("status").GetString());
        Assert.Equal(reason, status.GetProperty("reason").GetString());
        Assert.Equal((int)code, status.GetProperty("code").GetInt32());
    }

    public static async Task CreateNamespaceAsync(HttpClient client, string ns)
    {
        using var response = await ApiAsync(client, HttpMethod.Post, "/namespaces", new { apiVersion = "registry/v1", kind = "Namespace", metadata = new { name = ns } });
        await response.JsonAsync(HttpStatusCode.Created);
    }

    public static object Binding(string name, string role, object[] subjects, string? ns = null, string? repository = null, string? resourceVersion = null)
        => new Dictionary<string, object?>
        {
            ["apiVersion"] = "registry/v1",
            ["kind"] = ns is null ? "ClusterRoleBinding" : "RoleBinding",
            ["metadata"] = new Dictionary<string, object?> { ["name"] = name, ["namespace"] = ns, ["resourceVersion"] = resourceVersion }.Where(p => p.Value is not null).ToDictionary(),
            ["repository"] = repository,
            ["subjects"] = subjects,
            ["roleRef"] = new { kind = ns is null ? "ClusterRole" : "Role", name = role },
        }.Where(p => p.Value is not null).ToDictionary();

    public static object User(string name) => new { kind = "User", name };

    public static object Group(string name) => new { kind = "Group", name };

    /// <summary>Binds <paramref name="role"/> in <paramref name="ns"/> (registry scope when null); returns the binding as stored.</summary>
    public static async Task<JsonElement> BindAsync(HttpClient client, string? ns, string role, object[] subjects, string? repository = null, string? name = null)
    {
        var path = ns is null ? "/clusterrolebindings" : $"/namespaces/{ns}/rolebindings";
        using var response = await ApiAsync(client, HttpMethod.Post, path, Binding(name ?? "b" + Guid.NewGuid().ToString("N")[..10], role, subjects, ns, repository));
        return await response.JsonAsync(HttpStatusCode.Created);
    }
}

/// <summary>
/// What each role allows on every <c>/v2</c> endpoint, bound at namespace, repository and registry
/// scope, to a user or to a group: each case pushes its own repositories as the registry admin and
/// asserts the status of every request the caller sends.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class PolicyTests
{
    /// <summary>What a caller is expected to be allowed; <paramref name="Mount"/> is the status of a mount from the source repository.</summary>
    public sealed record Expect(bool Pull, bool Push, bool Overwrite, bool Delete, bool Catalog, HttpStatusCode Mount);

    private static Expect ForRole(string role, bool catalog = false, bool mayPullSource = true)
    {
        var (pull, push, overwrite, delete) = role switch
        {
            "none" => (false, false, false, false),
            Roles.Viewer => (true, false, false, false),
            Roles.Pusher => (true, true, false, false),
            _ => (true, true, true, true),
        };
        return new Expect(pull, push, overwrite, delete, catalog, !push ? HttpStatusCode.Forbidden : mayPullSource ? HttpStatusCode.Created : HttpStatusCode.Accepted);
    }

    public static TheoryData<string> AllRoles() => ["none", Roles.Viewer, Roles.Pusher, Roles.Editor, Roles.Admin];

    [Theory]
    [MemberData(nameof(AllRoles))]
    public async Task ARoleBoundOnANamespaceAllowsExactlyItsActionsOnEveryEndpoint(string role)
    {
        var host = await PolicyRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var ns = PolicyRegistry.NewNamespace();
        await PolicyRegistry.CreateNamespaceAsync(admin, ns);
        var (user, auth) = await PolicyRegistry.NewUserAsync(host);
        if (role != "none")
        {
            await PolicyRegistry.BindAsync(admin, ns, role, [PolicyRegistry.User(user)]);
        }

        await AssertEndpointsAsync(host, auth, $"{ns}/app", $"{ns}/src", ForRole(role));
    }

    [Theory]
    [InlineData(Roles.Viewer)]
    [InlineData(Roles.Pusher)]
    [InlineData(Roles.Editor)]
    public async Task ARoleBoundOnOneRepositoryAllowsItThereAndNowhereElseInTheNamespace(string role)
    {
        var host = await PolicyRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var ns = PolicyRegistry.NewNamespace();
        await PolicyRegistry.CreateNamespaceAsync(admin, ns);
        var (user, auth) = await PolicyRegistry.NewUserAsync(host);
        var stored = await PolicyRegistry.BindAsync(admin, ns, role, [PolicyRegistry.User(user)], repository: "team/app");
        Assert.Equal("team/app", stored.GetProperty("repository").GetString());

        // The source of the mount is in the namespace but not the bound repository: the mount becomes a plain upload.
        await AssertEndpointsAsync(host, auth, $"{ns}/team/app", $"{ns}/src", ForRole(role, mayPullSource: false));
        await AssertEndpointsAsync(host, auth, $"{ns}/team/other", $"{ns}/src", ForRole("none"));
    }

    [Theory]
    [InlineData(Roles.Viewer)]
    [InlineData(Roles.Editor)]
    public async Task ARoleBoundAtRegistryScopeAllowsItInEveryNamespaceAndTheCatalog(string role)
    {
        var host = await PolicyRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var ns = PolicyRegistry.NewNamespace();
        await PolicyRegistry.CreateNamespaceAsync(admin, ns);
        var (user, auth) = await PolicyRegistry.NewUserAsync(host);
        await PolicyRegistry.BindAsync(admin, null, role, [PolicyRegistry.User(user)]);

        await AssertEndpointsAsync(host, auth, $"{ns}/app", $"{ns}/src", ForRole(role, catalog: true));
    }

    [Theory]
    [InlineData(Roles.Viewer)]
    [InlineData(Roles.Editor)]
    public async Task ARoleBoundToAGroupAllowsItsMembersAndNotOthers(string role)
    {
        var host = await PolicyRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var ns = PolicyRegistry.NewNamespace();
        var group = "team-" + ns;
        await PolicyRegistry.CreateNamespaceAsync(admin, ns);
        var (_, member) = await PolicyRegistry.NewUserAsync(host, group);
        var (_, outsider) = await PolicyRegistry.NewUserAsync(host, "another-group");
        await PolicyRegistry.BindAsync(admin, ns, role, [PolicyRegistry.Group(group)]);

        await AssertEndpointsAsync(host, member, $"{ns}/app", $"{ns}/src", ForRole(role));
        await AssertEndpointsAsync(host, outsider, $"{ns}/app", $"{ns}/src", ForRole("none"));
    }

    /// <summary>Sends every kind of <c>/v2</c> request as <paramref name="auth"/> and asserts each status; the registry admin prepares what they act on.</summary>
    internal static async Task AssertEndpointsAsync(RegistryHost host, AuthenticationHeaderValue auth, string repository, string source, Expect expect)
    {
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var (first, firstBytes) = await admin.PushImageAsync(repository, "v1", layers: 1);
        var (second, secondBytes) = await admin.PushImageAsync(repository, "other", layers: 1);
        var (doomed, _) = await admin.PushImageAsync(repository, "doomed", layers: 1);
        var layer = Oci.RandomBytes(700);
        var layerDigest = await admin.PushBlobAsync(repository, layer);
        var loose = await admin.PushBlobAsync(repository, Oci.RandomBytes(600));
        var mountable = await admin.PushBlobAsync(source, Oci.RandomBytes(500));
        var sessions = new List<UploadSession>();
        for (var i = 0; i < 4; i++)
        {
            sessions.Add(await UploadSession.StartAsync(admin, repository));
        }

        using var client = PolicyRegistry.Client(host, auth);
        var failures = new List<string>();
        async Task Check(string what, HttpMethod method, string path, bool allowed, HttpStatusCode ok, HttpContent? content = null, HttpStatusCode denied = HttpStatusCode.Forbidden)
        {
            using var request = new HttpRequestMessage(method, path) { Content = content };
            using var response = await client.SendAsync(request);
            var expected = allowed ? ok : denied;
            if (response.StatusCode != expected)
            {
                failures.Add($"{what}: {method} {path} answered {(int)response.StatusCode}, expected {(int)expected}: {await response.Content.ReadAsStringAsync()}");
            }
        }

        HttpContent Manifest(byte[] bytes)
        {
            var body = new ByteArrayContent(bytes);
            body.Headers.ContentType = new MediaTypeHeaderValue(Oci.ManifestType);
            return body;
        }

        var blob = Oci.RandomBytes(300);
        await Check("base", HttpMethod.Get, "/v2/", true, HttpStatusCode.OK);
        // The catalog answers everyone who is known, listing only what they may pull.
        using (var catalog = await client.GetAsync("/v2/_catalog?n=1000"))
        {
            var listing = await catalog.Content.ReadAsStringAsync();
            if (catalog.StatusCode != HttpStatusCode.OK || (!expect.Catalog && listing.Contains($"\"{repository}\"", StringComparison.Ordinal) != expect.Pull))
            {
                failures.Add($"catalog: answered {(int)catalog.StatusCode} {listing}, expected 200 {(expect.Pull ? "with" : "without")} {repository}");
            }
        }

        await Check("tags list", HttpMethod.Get, $"/v2/{repository}/tags/list", expect.Pull, HttpStatusCode.OK);
        await Check("manifest GET", HttpMethod.Get, $"/v2/{repository}/manifests/v1", expect.Pull, HttpStatusCode.OK);
        await Check("manifest HEAD", HttpMethod.Head, $"/v2/{repository}/manifests/{first}", expect.Pull, HttpStatusCode.OK);
        await Check("blob GET", HttpMethod.Get, $"/v2/{repository}/blobs/{layerDigest}", expect.Pull, HttpStatusCode.OK);
        await Check("blob HEAD", HttpMethod.Head, $"/v2/{repository}/blobs/{layerDigest}", expect.Pull, HttpStatusCode.OK);
        await Check("upload status", HttpMethod.Get, sessions[3].Location, expect.Pull, HttpStatusCode.NoContent);
        await Check("manifest PUT new tag", HttpMethod.Put, $"/v2/{repository}/manifests/new", expect.Push, HttpStatusCode.Created, Manifest(firstBytes));
        await Check("manifest PUT same manifest on its tag", HttpMethod.Put, $"/v2/{repository}/manifests/v1", expect.Push, HttpStatusCode.Created, Manifest(firstBytes));
        await Check("manifest PUT by digest with ?tag= of a new tag", HttpMethod.Put, $"/v2/{repository}/manifests/{second}?tag=fresh", expect.Push, HttpStatusCode.Created, Manifest(secondBytes));
        await Check("manifest PUT moving an existing tag", HttpMethod.Put, $"/v2/{repository}/manifests/v1", expect.Overwrite, HttpStatusCode.Created, Manifest(secondBytes));

        // Where the move above was refused, v1 still points at the first manifest: ?tag= moves it only with overwrite too.
        await Check("manifest PUT by digest with ?tag= of an existing tag", HttpMethod.Put, $"/v2/{repository}/manifests/{second}?tag=v1", expect.Overwrite, HttpStatusCode.Created, Manifest(secondBytes));
        await Check("manifest DELETE", HttpMethod.Delete, $"/v2/{repository}/manifests/{doomed}", expect.Delete, HttpStatusCode.Accepted);
        await Check("blob DELETE", HttpMethod.Delete, $"/v2/{repository}/blobs/{loose}", expect.Delete, HttpStatusCode.Accepted);
        await Check("upload POST", HttpMethod.Post, $"/v2/{repository}/blobs/uploads/", expect.Push, HttpStatusCode.Accepted);
        await Check("upload PATCH", HttpMethod.Patch, sessions[0].Location, expect.Push, HttpStatusCode.Accepted, Oci.Octets(blob));
        await Check("upload PUT", HttpMethod.Put, $"{sessions[1].Location}?digest={Oci.Digest(blob)}", expect.Push, HttpStatusCode.Created, Oci.Octets(blob));
        await Check("upload DELETE", HttpMethod.Delete, sessions[2].Location, expect.Push, HttpStatusCode.NoContent);
        await Check("mount with from", HttpMethod.Post, $"/v2/{repository}/blobs/uploads/?mount={mountable}&from={source}", expect.Push, expect.Mount);

        Assert.True(failures.Count == 0, string.Join("\n", failures));

        // A tag moves only for callers with overwrite; ?tag= is not a way around it.
        Assert.Equal(expect.Overwrite ? second : first, await admin.TagDigestAsync(repository, "v1"));
    }
}
