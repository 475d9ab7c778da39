using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Registry.Api.Access;
using Registry.Api.Lifecycle;
using Registry.Grains;

namespace Registry.Tests;

/// <summary>
/// Namespace quotas over HTTP (docs/quotas.md): the byte limit refuses the blob or manifest that
/// would pass it (403 DENIED naming limit and usage, nothing made visible), the repository limit
/// refuses a new repository (429 TOOMANYREQUESTS), shared blobs count once, deletes release, the
/// API's verbs, errors and access, and a concurrent hammer whose tracked usage equals a recount.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class QuotaTests
{
    [Fact]
    public async Task AByteQuotaRefusesTheBlobThatWouldPassItWith403NamingLimitAndUsage()
    {
        var client = (await SharedRegistry.GetAsync()).Client;
        var ns = NewNamespace();
        var repository = $"{ns}/app";
        await SetQuotaAsync(client, ns, storage: 3000);

        var first = Oci.RandomBytes(2000);
        await client.PushBlobAsync(repository, first);
        Assert.Equal(2000, (await UsedAsync(client, ns)).Storage);

        // One POST with the bytes: refused, and the blob is not served.
        var second = Oci.RandomBytes(1500);
        using (var refused = await client.PostAsync($"/v2/{repository}/blobs/uploads/?digest={Oci.Digest(second)}", Oci.Octets(second)))
        {
            var error = await AssertQuotaErrorAsync(refused, HttpStatusCode.Forbidden, "DENIED");
            Assert.Contains("3000", error.Message, StringComparison.Ordinal);
            Assert.Contains("2000", error.Message, StringComparison.Ordinal);
            Assert.Contains("1500", error.Message, StringComparison.Ordinal);
            Assert.Contains("limit 3000", error.Detail, StringComparison.Ordinal);
            Assert.Contains("used 2000", error.Detail, StringComparison.Ordinal);
        }

        await AssertBlobAbsentAsync(client, repository, Oci.Digest(second));

        // A chunked upload is refused at its last PUT, and its session is gone.
        using var start = await client.PostAsync($"/v2/{repository}/blobs/uploads/", null);
        Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        var location = start.Headers.Location!.ToString();
        using (var patch = await client.SendAsync(HttpMethod.Patch, location, Oci.Octets(second)))
        {
            Assert.Equal(HttpStatusCode.Accepted, patch.StatusCode);
        }

        using (var put = await client.PutAsync($"{location}{(location.Contains('?', StringComparison.Ordinal) ? '&' : '?')}digest={Oci.Digest(second)}", null))
        {
            await AssertQuotaErrorAsync(put, HttpStatusCode.Forbidden, "DENIED");
        }

        await AssertBlobAbsentAsync(client, repository, Oci.Digest(second));
        using (var status = await client.GetAsync(location))
        {
            await status.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
        }

        // A blob that fits is still accepted, up to the last byte.
        await client.PushBlobAsync(repository, Oci.RandomBytes(1000));
        var used = await UsedAsync(client, ns);
        Assert.Equal(3000, used.Storage);
        Assert.Equal(1, used.Repositories);
    }

    [Fact]
    public async Task AManifestBeyondTheQuotaIsRefusedAndNotStoredWhileASharedBlobCountsOnce()
    {
        var client = (await SharedRegistry.GetAsync()).Client;
        var ns = NewNamespace();
        var (app, other) = ($"{ns}/app", $"{ns}/other");
        await SetQuotaAsync(client, ns, storage: 1_000_000);

        // The same layer in two repositories (pushed, and mounted) counts once.
        var layer = Oci.RandomBytes(4000);
        await client.PushBlobAsync(app, layer);
        await client.PushBlobAsync(other, layer);
        using (var mount = await client.PostAsync($"/v2/{ns}/third/blobs/uploads/?mount={Oci.Digest(layer)}&from={app}", null))
        {
            Assert.Equal(HttpStatusCode.Created, mount.StatusCode);
        }

        var used = await UsedAsync(client, ns);
        Assert.Equal((4000, 3, 1), (used.Storage, used.Repositories, used.Digests));

        var config = Encoding.UTF8.GetBytes("{\"architecture\":\"amd64\",\"os\":\"linux\"}");
        await client.PushBlobAsync(app, config);
        var manifest = Oci.ImageManifest(config, [layer]);
        using (var pushed = await client.PutManifestAsync(app, "v1", manifest))
        {
            Assert.Equal(HttpStatusCode.Created, pushed.StatusCode);
        }

        used = await UsedAsync(client, ns);
        Assert.Equal(4000 + config.Length + manifest.Length, used.Storage);

        // Lowered to the usage: anything new is refused, what is held already is not.
        await SetQuotaAsync(client, ns, storage: used.Storage);
        var annotated = Oci.ImageManifest(config, [layer], annotations: new Dictionary<string, string> { ["n"] = Guid.NewGuid().ToString("N") });
        using (var refused = await client.PutManifestAsync(app, "v2", annotated))
        {
            var error = await AssertQuotaErrorAsync(refused, HttpStatusCode.Forbidden, "DENIED");
            Assert.Contains(used.Storage.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
        }

        foreach (var reference in new[] { "v2", Oci.Digest(annotated) })
        {
            using var get = await client.GetAsync($"/v2/{app}/manifests/{reference}");
            await get.AssertErrorAsync(HttpStatusCode.NotFound, "MANIFEST_UNKNOWN");
        }

        using (var again = await client.PutManifestAsync(app, "v1-again", manifest))
        {
            Assert.Equal(HttpStatusCode.Created, again.StatusCode);
        }

        using (var mount = await client.PostAsync($"/v2/{ns}/fourth/blobs/uploads/?mount={Oci.Digest(layer)}&from={app}", null))
        {
            Assert.Equal(HttpStatusCode.Created, mount.StatusCode);
        }

        Assert.Equal(used.Storage, (await UsedAsync(client, ns)).Storage);
    }

    [Fact]
    public async Task AMountBeyondTheQuotaIsRefusedWith403()
    {
        var client = (await SharedRegistry.GetAsync()).Client;
        var (source, ns) = (NewNamespace(), NewNamespace());
        var layer = Oci.RandomBytes(3000);
        await client.PushBlobAsync($"{source}/app", layer);
        await SetQuotaAsync(client, ns, storage: 2999);

        using var mount = await client.PostAsync($"/v2/{ns}/app/blobs/uploads/?mount={Oci.Digest(layer)}&from={source}/app", null);
        await AssertQuotaErrorAsync(mount, HttpStatusCode.Forbidden, "DENIED");
        await AssertBlobAbsentAsync(client, $"{ns}/app", Oci.Digest(layer));
        Assert.Equal(0, (await UsedAsync(client, ns)).Storage);
    }

    [Fact]
    public async Task DeletesReleaseUsageOnlyWhenNoRepositoryHoldsTheDigest()
    {
        var client = (await SharedRegistry.GetAsync()).Client;
        var ns = NewNamespace();
        var (app, other) = ($"{ns}/app", $"{ns}/other");
        var layer = Oci.RandomBytes(5000);
        await client.PushBlobAsync(app, layer);
        await client.PushBlobAsync(other, layer);
        var (digest, manifest) = await client.PushImageAsync(app, "v1");
        var before = await UsedAsync(client, ns);
        Assert.Equal(2, before.Repositories);

        await DeleteAsync(client, $"/v2/{app}/manifests/{digest}");
        Assert.Equal(before.Storage - manifest.Length, (await UsedAsync(client, ns)).Storage);

        // Still linked from the other repository: no change; then from none: released.
        await DeleteAsync(client, $"/v2/{app}/blobs/{Oci.Digest(layer)}");
        Assert.Equal(before.Storage - manifest.Length, (await UsedAsync(client, ns)).Storage);
        await DeleteAsync(client, $"/v2/{other}/blobs/{Oci.Digest(layer)}");
        var after = await UsedAsync(client, ns);
        Assert.Equal(before.Storage - manifest.Length - 5000, after.Storage);
        Assert.Equal(1, after.Repositories);
    }

    [Fact]
    public async Task ARepositoryBeyondTheCountIsRefusedWith429AndTheLimitInDetail()
    {
        var client = (await SharedRegistry.GetAsync()).Client;
        var ns = NewNamespace();
        await SetQuotaAsync(client, ns, repositories: 2);
        await client.PushImageAsync($"{ns}/one", "v1");
        var kept = await client.PushBlobAsync($"{ns}/two", Oci.RandomBytes(100));

        using (var refused = await client.PostAsync($"/v2/{ns}/three/blobs/uploads/?digest={Oci.Digest(Oci.RandomBytes(1))}", Oci.Octets(Oci.RandomBytes(1))))
        {
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode); // digest of other bytes: the digest check comes first
        }

        var blob = Oci.RandomBytes(100);
        using (var refused = await client.PostAsync($"/v2/{ns}/three/blobs/uploads/?digest={Oci.Digest(blob)}", Oci.Octets(blob)))
        {
            var error = await AssertQuotaErrorAsync(refused, HttpStatusCode.TooManyRequests, "TOOMANYREQUESTS");
            Assert.Contains("limit 2", error.Detail, StringComparison.Ordinal);
        }

        using (var manifest = await client.PutManifestAsync($"{ns}/three", "v1", Oci.ImageManifest(Oci.RandomBytes(10), [])))
        {
            Assert.Equal(HttpStatusCode.BadRequest, manifest.StatusCode); // its config is in no repository
        }

        // Existing repositories still grow; emptying one makes room for another.
        await client.PushImageAsync($"{ns}/one", "v2");
        await DeleteAsync(client, $"/v2/{ns}/two/blobs/{kept}");
        await client.PushBlobAsync($"{ns}/three", blob);
        Assert.Equal(2, (await UsedAsync(client, ns)).Repositories);
    }

    [Fact]
    public async Task TheQuotaResourceIsReadSetReplacedAndRemovedWithVersions()
    {
        var client = (await SharedRegistry.GetAsync()).Client;
        var ns = NewNamespace();
        await client.PushBlobAsync($"{ns}/app", Oci.RandomBytes(10));

        // Usage is readable without a quota.
        var none = await ApiJsonAsync(client, HttpMethod.Get, ns, null, HttpStatusCode.OK);
        Assert.Equal("NamespaceQuota", none.GetProperty("kind").GetString());
        Assert.Equal("registry/v1", none.GetProperty("apiVersion").GetString());
        Assert.Equal("0", none.GetProperty("metadata").GetProperty("resourceVersion").GetString());
        Assert.False(none.TryGetProperty("spec", out _));
        Assert.Equal(10, none.GetProperty("status").GetProperty("used").GetProperty("storage").GetInt64());

        var created = await ApiJsonAsync(client, HttpMethod.Put, ns, Quota(1000, 5), HttpStatusCode.Created);
        var version = created.GetProperty("metadata").GetProperty("resourceVersion").GetString();
        Assert.Equal(1000, created.GetProperty("spec").GetProperty("hard").GetProperty("storage").GetInt64());
        Assert.Equal(5, created.GetProperty("status").GetProperty("hard").GetProperty("repositories").GetInt64());
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", created.GetProperty("metadata").GetProperty("creationTimestamp").GetString());

        var replaced = await ApiJsonAsync(client, HttpMethod.Put, ns, Quota(2000, null, version), HttpStatusCode.OK);
        Assert.False(replaced.GetProperty("spec").GetProperty("hard").TryGetProperty("repositories", out _));
        using (var stale = await Send(client, HttpMethod.Put, ns, Quota(3000, null, version)))
        {
            await stale.AssertStatusAsync(HttpStatusCode.Conflict, "Conflict");
        }

        using (var stale = await client.DeleteAsync($"{QuotaPath(ns)}?resourceVersion={version}"))
        {
            await stale.AssertStatusAsync(HttpStatusCode.Conflict, "Conflict");
        }

        Assert.Equal(2000, (await ApiJsonAsync(client, HttpMethod.Get, ns, null, HttpStatusCode.OK)).GetProperty("spec").GetProperty("hard").GetProperty("storage").GetInt64());
        using (var removed = await client.DeleteAsync(QuotaPath(ns)))
        {
            Assert.Equal("Success", (await removed.JsonAsync(HttpStatusCode.OK)).GetProperty("status").GetString());
        }

        using (var again = await client.DeleteAsync(QuotaPath(ns)))
        {
            await again.AssertStatusAsync(HttpStatusCode.NotFound, "NotFound");
        }

        var gone = await ApiJsonAsync(client, HttpMethod.Get, ns, null, HttpStatusCode.OK);
        Assert.False(gone.TryGetProperty("spec", out _));
        Assert.True(long.Parse(gone.GetProperty("metadata").GetProperty("resourceVersion").GetString()!, System.Globalization.CultureInfo.InvariantCulture) > long.Parse(version!, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Theory]
    [InlineData("{not json", HttpStatusCode.BadRequest, "BadRequest")]
    [InlineData("""{"spec":{"hard":{"storage":"10Gi"}}}""", HttpStatusCode.BadRequest, "BadRequest")]
    [InlineData("""{"spec":{"hard":{"storge":10}}}""", HttpStatusCode.BadRequest, "BadRequest")]
    [InlineData("""{"spec":{"hard":{"storage":10},"soft":{}}}""", HttpStatusCode.BadRequest, "BadRequest")]
    [InlineData("""{"kind":"ResourceQuota","spec":{"hard":{"storage":10}}}""", HttpStatusCode.BadRequest, "BadRequest")]
    [InlineData("""{"metadata":{"namespace":"elsewhere"},"spec":{"hard":{"storage":10}}}""", HttpStatusCode.BadRequest, "BadRequest")]
    [InlineData("""{"metadata":{"resourceVersion":"-1"},"spec":{"hard":{"storage":10}}}""", HttpStatusCode.BadRequest, "BadRequest")]
    [InlineData("""{"metadata":{"name":"other"},"spec":{"hard":{"storage":10}}}""", HttpStatusCode.UnprocessableEntity, "Invalid")]
    [InlineData("""{"spec":{}}""", HttpStatusCode.UnprocessableEntity, "Invalid")]
    [InlineData("""{"spec":{"hard":{"storage":-1}}}""", HttpStatusCode.UnprocessableEntity, "Invalid")]
    [InlineData("""{"spec":{"hard":{"storage":1152921504606846977}}}""", HttpStatusCode.UnprocessableEntity, "Invalid")]
    [InlineData("""{"spec":{"hard":{"repositories":1000001}}}""", HttpStatusCode.UnprocessableEntity, "Invalid")]
    [InlineData("""{"spec":{"hard":{"digests":5}}}""", HttpStatusCode.UnprocessableEntity, "Invalid")]
    public async Task ABadQuotaDocumentIsRefusedWithAStatusAndChangesNothing(string body, HttpStatusCode code, string reason)
    {
        var client = (await SharedRegistry.GetAsync()).Client;
        var ns = NewNamespace();
        using (var response = await Send(client, HttpMethod.Put, ns, body))
        {
            await response.AssertStatusAsync(code, reason);
        }

        var quota = await ApiJsonAsync(client, HttpMethod.Get, ns, null, HttpStatusCode.OK);
        Assert.Equal("0", quota.GetProperty("metadata").GetProperty("resourceVersion").GetString());
    }

    [Fact]
    public async Task OversizedWrongTypeAndBadNamespaceRequestsAreRefused()
    {
        var client = (await SharedRegistry.GetAsync()).Client;
        var ns = NewNamespace();
        using (var large = await Send(client, HttpMethod.Put, ns, "{\"spec\":{\"hard\":{}},\"x\":\"" + new string('a', QuotaEndpoints.MaxBodyBytes) + "\"}"))
        {
            await large.AssertStatusAsync(HttpStatusCode.RequestEntityTooLarge, "RequestEntityTooLarge");
        }

        using (var text = await client.PutAsync(QuotaPath(ns), new StringContent("storage=1", Encoding.UTF8, "text/plain")))
        {
            await text.AssertStatusAsync(HttpStatusCode.UnsupportedMediaType, "UnsupportedMediaType");
        }

        using (var bad = await client.GetAsync(QuotaPath("UPPER")))
        {
            await bad.AssertStatusAsync(HttpStatusCode.BadRequest, "BadRequest");
        }

        using (var bad = await client.DeleteAsync($"{QuotaPath(ns)}?resourceVersion=abc"))
        {
            await bad.AssertStatusAsync(HttpStatusCode.BadRequest, "BadRequest");
        }
    }

    [Fact]
    public async Task OnlyAdminsOfTheNamespaceOrRegistrySetQuotasAndPullersReadThem()
    {
        var host = await PolicyRegistry.GetAsync();
        using var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var (ns, elsewhere) = (PolicyRegistry.NewNamespace(), PolicyRegistry.NewNamespace());
        await PolicyRegistry.CreateNamespaceAsync(admin, ns);
        await PolicyRegistry.CreateNamespaceAsync(admin, elsewhere);
        var (viewer, viewerAuth) = await PolicyRegistry.NewUserAsync(host);
        var (nsAdmin, nsAdminAuth) = await PolicyRegistry.NewUserAsync(host);
        var (otherAdmin, otherAdminAuth) = await PolicyRegistry.NewUserAsync(host);
        await PolicyRegistry.BindAsync(admin, ns, Roles.Viewer, [PolicyRegistry.User(viewer)]);
        await PolicyRegistry.BindAsync(admin, ns, Roles.Admin, [PolicyRegistry.User(nsAdmin)]);
        await PolicyRegistry.BindAsync(admin, elsewhere, Roles.Admin, [PolicyRegistry.User(otherAdmin)]);
        using var anonymous = PolicyRegistry.Client(host, null);
        using var badCredentials = PolicyRegistry.Client(host, AccessRegistry.Basic(viewer, "wrong"));
        using var asViewer = PolicyRegistry.Client(host, viewerAuth);
        using var asNsAdmin = PolicyRegistry.Client(host, nsAdminAuth);
        using var asOtherAdmin = PolicyRegistry.Client(host, otherAdminAuth);

        foreach (var client in new[] { anonymous, badCredentials })
        {
            using var response = await Send(client, HttpMethod.Put, ns, Quota(1, 1));
            await response.AssertStatusAsync(HttpStatusCode.Unauthorized, "Unauthorized");
            Assert.StartsWith("Bearer ", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        }

        foreach (var client in new[] { asViewer, asOtherAdmin })
        {
            using var put = await Send(client, HttpMethod.Put, ns, Quota(1, 1));
            await put.AssertStatusAsync(HttpStatusCode.Forbidden, "Forbidden");
            using var delete = await client.DeleteAsync(QuotaPath(ns));
            await delete.AssertStatusAsync(HttpStatusCode.Forbidden, "Forbidden");
            using var recount = await client.PostAsync(QuotaPath(ns) + "/recount", null);
            await recount.AssertStatusAsync(HttpStatusCode.Forbidden, "Forbidden");
        }

        using (var read = await asOtherAdmin.GetAsync(QuotaPath(ns)))
        {
            await read.AssertStatusAsync(HttpStatusCode.Forbidden, "Forbidden");
        }

        await ApiJsonAsync(asNsAdmin, HttpMethod.Put, ns, Quota(1000, null), HttpStatusCode.Created);
        Assert.Equal(1000, (await ApiJsonAsync(asViewer, HttpMethod.Get, ns, null, HttpStatusCode.OK)).GetProperty("spec").GetProperty("hard").GetProperty("storage").GetInt64());
        await ApiJsonAsync(admin, HttpMethod.Put, ns, Quota(2000, null), HttpStatusCode.OK);
        await ApiJsonAsync(admin, HttpMethod.Put, elsewhere, Quota(3000, null), HttpStatusCode.Created);
        Assert.Equal(3000, (await ApiJsonAsync(asOtherAdmin, HttpMethod.Get, elsewhere, null, HttpStatusCode.OK)).GetProperty("spec").GetProperty("hard").GetProperty("storage").GetInt64());
    }

    [Fact]
    public async Task ConcurrentPushesDeletesAndUnlinksLeaveTheTrackedUsageEqualToARecount()
    {
        var client = (await SharedRegistry.GetAsync()).Client;
        var ns = NewNamespace();
        const long limit = 200_000;
        await SetQuotaAsync(client, ns, storage: limit, repositories: 4);
        var shared = Enumerable.Range(0, 6).Select(_ => Oci.RandomBytes(3000 + Random.Shared.Next(3000))).ToArray();
        var repositories = Enumerable.Range(0, 5).Select(i => $"{ns}/r{i}").ToArray();

        // Each worker pushes shared and own blobs and images into a repository, and deletes and unlinks some again.
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 12).Select(worker => Task.Run(async () =>
        {
            var refused = 0;
            for (var round = 0; round < 6; round++)
            {
                var repository = repositories[(worker + round) % repositories.Length];
                var blob = round % 2 == 0 ? shared[(worker + round) % shared.Length] : Oci.RandomBytes(2000 + Random.Shared.Next(4000));
                using (var push = await client.PostAsync($"/v2/{repository}/blobs/uploads/?digest={Oci.Digest(blob)}", Oci.Octets(blob)))
                {
                    if (push.StatusCode != HttpStatusCode.Created)
                    {
                        Assert.Contains(push.StatusCode, new[] { HttpStatusCode.Forbidden, HttpStatusCode.TooManyRequests });
                        refused++;
                        continue;
                    }
                }

                var manifest = Oci.ImageManifest(blob, [], annotations: new Dictionary<string, string> { ["w"] = $"{worker}-{round}" });
                using (var put = await client.PutManifestAsync(repository, $"w{worker}-{round}", manifest))
                {
                    Assert.Contains(put.StatusCode, new[] { HttpStatusCode.Created, HttpStatusCode.Forbidden, HttpStatusCode.BadRequest });
                }

                if (round % 3 == 1)
                {
                    using var deleted = await client.DeleteAsync($"/v2/{repository}/manifests/{Oci.Digest(manifest)}");
                    using var unlinked = await client.DeleteAsync($"/v2/{repository}/blobs/{Oci.Digest(blob)}");
                }
            }

            return refused;
        })));

        using var recount = await client.PostAsync(QuotaPath(ns) + "/recount", null);
        var body = await recount.JsonAsync(HttpStatusCode.OK);
        var tracked = body.GetProperty("tracked");
        var counted = body.GetProperty("counted");
        Assert.Equal(counted.GetProperty("storage").GetInt64(), tracked.GetProperty("storage").GetInt64());
        Assert.Equal(counted.GetProperty("repositories").GetInt64(), tracked.GetProperty("repositories").GetInt64());
        Assert.Equal(counted.GetProperty("digests").GetInt64(), tracked.GetProperty("digests").GetInt64());
        Assert.InRange(counted.GetProperty("storage").GetInt64(), 1, limit);
        Assert.InRange(counted.GetProperty("repositories").GetInt64(), 1, 4);
        Assert.True(outcomes.Sum() > 0, "the fifth repository is refused at least once");
    }

    [Fact]
    public async Task ARecountRepairsUsageThatDriftedFromTheRepositories()
    {
        var host = await SharedRegistry.GetAsync();
        var client = host.Client;
        var ns = NewNamespace();
        var digest = await client.PushBlobAsync($"{ns}/app", Oci.RandomBytes(900));
        await client.PushBlobAsync($"{ns}/app", Oci.RandomBytes(100));

        // A release the repository never made (as a crash between its state write and its call could leave).
        await host.Service<IGrainFactory>().GetGrain<INamespaceUsageGrain>(ns).Release($"{ns}/app", digest);
        Assert.Equal(100, (await UsedAsync(client, ns)).Storage);

        using var recount = await client.PostAsync(QuotaPath(ns) + "/recount", null);
        var body = await recount.JsonAsync(HttpStatusCode.OK);
        Assert.Equal(100, body.GetProperty("tracked").GetProperty("storage").GetInt64());
        Assert.Equal(1000, body.GetProperty("counted").GetProperty("storage").GetInt64());
        Assert.Equal(1000, (await UsedAsync(client, ns)).Storage);
    }

    [Fact]
    public async Task TheQuotaAndTheUsageSurviveARestart()
    {
        var data = Directory.CreateTempSubdirectory("registry-quota-").FullName;
        try
        {
            var ns = NewNamespace();
            (long Storage, long Repositories, long Digests) before;
            await using (var host = await RegistryHost.StartAsync(data))
            {
                await SetQuotaAsync(host.Client, ns, storage: 10_000, repositories: 2);
                await host.Client.PushImageAsync($"{ns}/one", "v1");
                await host.Client.PushBlobAsync($"{ns}/two", Oci.RandomBytes(5000));
                before = await UsedAsync(host.Client, ns);
            }

            await using (var host = await RegistryHost.StartAsync(data))
            {
                Assert.Equal(before, await UsedAsync(host.Client, ns));
                var quota = await ApiJsonAsync(host.Client, HttpMethod.Get, ns, null, HttpStatusCode.OK);
                Assert.Equal(10_000, quota.GetProperty("spec").GetProperty("hard").GetProperty("storage").GetInt64());
                var blob = Oci.RandomBytes(10);
                using var refused = await host.Client.PostAsync($"/v2/{ns}/three/blobs/uploads/?digest={Oci.Digest(blob)}", Oci.Octets(blob));
                await AssertQuotaErrorAsync(refused, HttpStatusCode.TooManyRequests, "TOOMANYREQUESTS");
            }
        }
        finally
        {
            Skopeo.TryDelete(data);
        }
    }

    public static string NewNamespace() => "q" + Guid.NewGuid().ToString("N")[..12];

    private static string QuotaPath(string ns) => $"/apis/registry/v1/namespaces/{ns}/quota";

    private static object Quota(long? storage, long? repositories, string? resourceVersion = null) => new
    {
        apiVersion = "registry/v1",
        kind = "NamespaceQuota",
        metadata = new { name = "quota", resourceVersion },
        spec = new { hard = new Dictionary<string, long?> { ["storage"] = storage, ["repositories"] = repositories }.Where(p => p.Value is not null).ToDictionary() },
    };

    private static async Task SetQuotaAsync(HttpClient client, string ns, long? storage = null, long? repositories = null)
    {
        using var response = await Send(client, HttpMethod.Put, ns, Quota(storage, repositories));
        Assert.True(response.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }

    private static async Task<(long Storage, long Repositories, long Digests)> UsedAsync(HttpClient client, string ns)
    {
        var used = (await ApiJsonAsync(client, HttpMethod.Get, ns, null, HttpStatusCode.OK)).GetProperty("status").GetProperty("used");
        return (used.GetProperty("storage").GetInt64(), used.GetProperty("repositories").GetInt64(), used.GetProperty("digests").GetInt64());
    }

    private static async Task<HttpResponseMessage> Send(HttpClient client, HttpMethod method, string ns, object? body)
    {
        using var request = new HttpRequestMessage(method, QuotaPath(ns));
        if (body is not null)
        {
            request.Content = new StringContent(body as string ?? JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
        }

        return await client.SendAsync(request);
    }

    private static async Task<JsonElement> ApiJsonAsync(HttpClient client, HttpMethod method, string ns, object? body, HttpStatusCode expected)
    {
        using var response = await Send(client, method, ns, body);
        return await response.JsonAsync(expected);
    }

    private static async Task DeleteAsync(HttpClient client, string path)
    {
        using var response = await client.DeleteAsync(path);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    private static async Task AssertBlobAbsentAsync(HttpClient client, string repository, string digest)
    {
        using var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/{repository}/blobs/{digest}"));
        Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
    }

    private static async Task<(string Message, string Detail)> AssertQuotaErrorAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal(new MediaTypeHeaderValue("application/json").MediaType, response.Content.Headers.ContentType?.MediaType);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("errors")[0];
        Assert.Equal(code, error.GetProperty("code").GetString());
        return (error.GetProperty("message").GetString()!, error.GetProperty("detail").GetString()!);
    }
}
