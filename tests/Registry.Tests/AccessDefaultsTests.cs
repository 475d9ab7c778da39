using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Registry.Api;
using Registry.Api.Access;

namespace Registry.Tests;

/// <summary>Access control is on unless turned off, and off only on loopback; the first start creates <c>admin</c>.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class AccessDefaultsTests
{
    public static TheoryData<string[]> BeyondLoopback() => new()
    {
        { ["--Registry:Listen=http://0.0.0.0:0"] },
        { ["--Registry:Listen=http://*:0"] },
        { ["--Registry:Listen=http://[::]:0"] },
        { ["--Registry:Listen=http://10.1.2.3:0"] },
        // Kestrel binds every interface for a host name other than localhost.
        { ["--Registry:Listen=http://registry.example:0"] },
        // Kestrel endpoints take precedence over Registry:Listen.
        { ["--Registry:Listen=http://127.0.0.1:0", "--Kestrel:Endpoints:Open:Url=http://0.0.0.0:0"] },
    };

    public static TheoryData<string> Loopback() => new() { "http://127.0.0.1:0", "http://127.9.8.7:0", "http://[::1]:0", "http://localhost:0" };

    [Fact]
    public async Task AccessControlIsOnWhenNothingSaysOtherwise()
    {
        using var data = new TempDirectory();
        Assert.True(new AccessOptions().Enabled);

        await using var app = RegistryApp.Create([$"--Registry:DataDirectory={data.Path}", "--Registry:Listen=http://127.0.0.1:0"]);

        Assert.True(app.Services.GetRequiredService<IOptions<AccessOptions>>().Value.Enabled);
    }

    [Theory]
    [MemberData(nameof(BeyondLoopback))]
    public void TurningAccessControlOffBeyondLoopbackStopsTheHostSayingWhatToSet(string[] listen)
    {
        using var data = new TempDirectory();

        var failure = Assert.Throws<OptionsValidationException>(() => RegistryApp.Create([$"--Registry:DataDirectory={data.Path}", "--Registry:Access:Enabled=false", .. listen]));

        var message = Assert.Single(failure.Failures);
        Assert.StartsWith("Registry:Access:Enabled=false is allowed only when the registry listens on loopback alone", message, StringComparison.Ordinal);
        Assert.Contains("set Registry:Listen=http://127.0.0.1:5000", message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Loopback))]
    public async Task OnLoopbackAccessControlMayBeTurnedOff(string listen)
    {
        using var data = new TempDirectory();

        await using var app = RegistryApp.Create([$"--Registry:DataDirectory={data.Path}", $"--Registry:Listen={listen}", "--Registry:Access:Enabled=false"]);

        Assert.False(app.Services.GetRequiredService<IOptions<AccessOptions>>().Value.Enabled);
    }

    [Fact]
    public void ClusterModeWithAccessControlOnByDefaultNeedsTheAdminPassword()
    {
        using var data = new TempDirectory();

        var failure = Assert.Throws<OptionsValidationException>(() => RegistryApp.Create([$"--Registry:DataDirectory={data.Path}", "--Registry:Listen=http://0.0.0.0:0", "--Registry:Mode=Cluster", "--Registry:Azure:ConnectionString=UseDevelopmentStorage=true"]));

        var message = Assert.Single(failure.Failures);
        Assert.StartsWith("Registry:Access:AdminPassword must be set in cluster mode", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListeningBeyondLoopbackWithAccessControlOnStartsAndChallenges()
    {
        await using var host = await RegistryHost.StartAsync(null, "--Registry:Listen=http://0.0.0.0:0", "--Registry:Access:Enabled=true", "--Registry:Access:AdminPassword=beyond-loopback-secret");
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{host.BaseAddress.Port}"), Timeout = Bounded.Timeout };

        using var response = await client.GetAsync("/v2/");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task TheGeneratedAdminPasswordIsInAFileTheLogNamesAndNeverInTheLog()
    {
        var logs = new LogCapture();
        string file, password;
        await using (var host = await RegistryHost.StartAsync(null, b => b.Logging.AddProvider(logs), "--Registry:Access:Enabled=true"))
        {
            file = Path.Combine(host.DataDirectory, AdminBootstrap.PasswordFileName);
            password = File.ReadAllText(file).Trim();
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            var token = await AccessRegistry.TokenAsync(host, AdminBootstrap.AdminName, password, "registry:catalog:*");
            Assert.Equal(["registry:catalog:*"], AccessRegistry.GrantedScopes(token));
        }

        var created = Assert.Single(logs.Messages, m => m.Contains("Created the account admin", StringComparison.Ordinal));
        Assert.Contains(file, created, StringComparison.Ordinal);
        Assert.DoesNotContain(logs.Messages, m => m.Contains(password, StringComparison.Ordinal));
    }

    [Fact]
    public async Task AConfiguredAdminPasswordIsUsedAndNamedBySettingNeverShownOrWritten()
    {
        var logs = new LogCapture();
        const string secret = "configured-admin-secret-4711";
        await using (var host = await RegistryHost.StartAsync(null, b => b.Logging.AddProvider(logs), "--Registry:Access:Enabled=true", $"--Registry:Access:AdminPassword={secret}"))
        {
            Assert.False(File.Exists(Path.Combine(host.DataDirectory, AdminBootstrap.PasswordFileName)));
            var token = await AccessRegistry.TokenAsync(host, AdminBootstrap.AdminName, secret, "registry:catalog:*");
            Assert.Equal(["registry:catalog:*"], AccessRegistry.GrantedScopes(token));
        }

        var created = Assert.Single(logs.Messages, m => m.Contains("Created the account admin", StringComparison.Ordinal));
        Assert.Contains("Registry:Access:AdminPassword", created, StringComparison.Ordinal);
        Assert.DoesNotContain(logs.Messages, m => m.Contains(secret, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ASecondStartKeepsTheFirstAdminPassword()
    {
        using var data = new TempDirectory();
        await using (await RegistryHost.StartAsync(data.Path, "--Registry:Access:Enabled=true"))
        {
        }

        var first = File.ReadAllText(Path.Combine(data.Path, AdminBootstrap.PasswordFileName)).Trim();
        await using var again = await RegistryHost.StartAsync(data.Path, "--Registry:Access:Enabled=true");

        Assert.Equal(first, File.ReadAllText(Path.Combine(data.Path, AdminBootstrap.PasswordFileName)).Trim());
        Assert.NotEmpty(await AccessRegistry.TokenAsync(again, AdminBootstrap.AdminName, first, "registry:catalog:*"));
    }

    /// <summary>Every formatted log message, of every category and level.</summary>
    private sealed class LogCapture : ILoggerProvider
    {
        private readonly ConcurrentQueue<string> _messages = new();

        public IReadOnlyCollection<string> Messages => _messages;

        public ILogger CreateLogger(string categoryName) => new Logger(_messages);

        public void Dispose()
        {
        }

        private sealed class Logger(ConcurrentQueue<string> messages) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
                => messages.Enqueue(formatter(state, exception) + (exception is null ? "" : "\n" + exception));
        }
    }
}
