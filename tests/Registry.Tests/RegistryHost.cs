using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Registry.Api;

namespace Registry.Tests;

/// <summary>A real registry process-in-a-process: Kestrel on 127.0.0.1 with a free port, a real data directory.</summary>
public sealed class RegistryHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly bool _ownsDirectory;

    private RegistryHost(WebApplication app, string dataDirectory, bool ownsDirectory)
    {
        _app = app;
        DataDirectory = dataDirectory;
        _ownsDirectory = ownsDirectory;
        BaseAddress = new Uri(app.Urls.First());
        Client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
    }

    public Uri BaseAddress { get; }

    /// <summary>host:port, as skopeo wants it.</summary>
    public string Authority => BaseAddress.Authority;

    public string DataDirectory { get; }

    public HttpClient Client { get; }

    public IServiceProvider Services => _app.Services;

    public T Service<T>() where T : notnull => _app.Services.GetRequiredService<T>();

    /// <summary>
    /// Starts a registry on <paramref name="dataDirectory"/> (a new temporary one when null), with
    /// access control off (it listens on 127.0.0.1) unless <paramref name="settings"/> turn it on
    /// (<c>--Registry:Access:Enabled=true</c>: a later argument wins).
    /// </summary>
    public static Task<RegistryHost> StartAsync(string? dataDirectory = null, params string[] settings)
        => StartAsync(dataDirectory, null, settings);

    /// <summary>Like <see cref="StartAsync(string?, string[])"/>, with <paramref name="configure"/> applied to the builder (a log capture, services of the test's own), as a host built on the registry does.</summary>
    public static async Task<RegistryHost> StartAsync(string? dataDirectory, Action<WebApplicationBuilder>? configure, params string[] settings)
    {
        var owns = dataDirectory is null;
        dataDirectory ??= Directory.CreateTempSubdirectory("registry-test-").FullName;
        string[] args =
        [
            $"--Registry:DataDirectory={dataDirectory}",
            "--Registry:Listen=http://127.0.0.1:0",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:Orleans=Error",
            "--Registry:Access:Enabled=false",

            // Every test's failed logins come from 127.0.0.1: the limits are raised (LoginThrottleTests sets its own).
            "--Registry:Access:FailedLogins:PerAddress=10000",
            "--Registry:Access:FailedLogins:PerAccount=10000",
            .. settings,
        ];
        var app = RegistryApp.Create(args, configure);
        await app.StartAsync();
        return new RegistryHost(app, dataDirectory, owns);
    }

    /// <summary>Stops the host but keeps its data directory, for a restart on the same data.</summary>
    public async Task StopAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        if (_ownsDirectory)
        {
            try
            {
                Directory.Delete(DataDirectory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}

/// <summary>One registry shared by every test class; tests use unique repository names.</summary>
public static class SharedRegistry
{
    private static readonly Lazy<Task<RegistryHost>> Host = new(StartAsync);

    private static async Task<RegistryHost> StartAsync()
    {
        var host = await RegistryHost.StartAsync();
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(host.DataDirectory, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        return host;
    }

    public static Task<RegistryHost> GetAsync() => Host.Value;

    /// <summary>A repository name no other test uses.</summary>
    public static string UniqueName(string prefix = "test") => $"{prefix}/r{Guid.NewGuid():N}";
}
