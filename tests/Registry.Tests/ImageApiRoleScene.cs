using System.Net;
using System.Net.Http.Headers;

namespace Registry.Tests;

/// <summary>
/// The start of the image API's role-by-verb tests: a new namespace with app:v1 and app:v2 pushed by
/// the admin, and a caller bound to it in one role ("anonymous" sends no credentials).
/// </summary>
internal sealed class ImageApiRoleScene : IDisposable
{
    public const string V1 = "/apis/image.openshift.io/v1";

    private ImageApiRoleScene(RegistryHost host, HttpClient admin, HttpClient client, string ns, string first, string second, string? user)
        => (Host, Admin, Client, Namespace, First, Second, User) = (host, admin, client, ns, first, second, user);

    public RegistryHost Host { get; }

    public HttpClient Admin { get; }

    /// <summary>The caller in the role.</summary>
    public HttpClient Client { get; }

    public string Namespace { get; }

    /// <summary>The digest of app:v1.</summary>
    public string First { get; }

    /// <summary>The digest of app:v2.</summary>
    public string Second { get; }

    /// <summary>The caller's account; null for anonymous.</summary>
    public string? User { get; }

    public static async Task<ImageApiRoleScene> StartAsync(string role)
    {
        var host = await PolicyRegistry.GetAsync();
        var admin = PolicyRegistry.Client(host, PolicyRegistry.Admin);
        var ns = PolicyRegistry.NewNamespace();
        await PolicyRegistry.CreateNamespaceAsync(admin, ns);
        var (first, _) = await admin.PushImageAsync($"{ns}/app", "v1", layers: 1);
        var (second, _) = await admin.PushImageAsync($"{ns}/app", "v2", layers: 1);
        var (user, auth) = await CallerAsync(host, admin, ns, role);
        return new ImageApiRoleScene(host, admin, PolicyRegistry.Client(host, auth), ns, first, second, user);
    }

    /// <summary>A new account bound to <paramref name="ns"/> in <paramref name="role"/>; no account and no credentials for "anonymous".</summary>
    public static async Task<(string? User, AuthenticationHeaderValue? Auth)> CallerAsync(RegistryHost host, HttpClient admin, string ns, string role)
    {
        if (role == "anonymous")
        {
            return (null, null);
        }

        var (user, auth) = await PolicyRegistry.NewUserAsync(host);
        await PolicyRegistry.BindAsync(admin, ns, role, [PolicyRegistry.User(user)]);
        return (user, auth);
    }

    /// <summary>The answer is <paramref name="code"/>: a refusal as a Kubernetes Status (401 with a challenge), anything else as JSON.</summary>
    public static async Task ExpectAsync(HttpResponseMessage response, HttpStatusCode code)
    {
        switch (code)
        {
            case HttpStatusCode.Unauthorized:
                await response.AssertStatusAsync(code, "Unauthorized");
                Assert.NotEmpty(response.Headers.WwwAuthenticate);
                break;
            case HttpStatusCode.Forbidden:
                await response.AssertStatusAsync(code, "Forbidden");
                break;
            default:
                await response.JsonAsync(code);
                break;
        }
    }

    public void Dispose()
    {
        Client.Dispose();
        Admin.Dispose();
    }
}
