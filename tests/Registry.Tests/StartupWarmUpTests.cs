using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Registry.Api;
using Registry.Storage;

namespace Registry.Tests;

/// <summary>The start-up warm-up pushes and pulls through a throwaway registry and leaves nothing behind.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class StartupWarmUpTests
{
    [Theory]
    [InlineData(UploadWriteMode.Cached)]
    [InlineData(UploadWriteMode.Direct)]
    public async Task TheWarmUpPushesAndPullsAndRemovesItsDataDirectory(UploadWriteMode mode)
    {
        // Its own temporary root: registry processes other tests start warm up in the system's at the same time.
        using var temporary = new TempDirectory();
        var logger = new ListLogger();

        Assert.True(await StartupWarmUp.RunAsync(mode, logger, temporary.Path));

        Assert.Empty(Directory.EnumerateFileSystemEntries(temporary.Path));
        Assert.Contains(logger.Messages, m => m.StartsWith("Warmed up in ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TheWarmUpLeavesAnotherRegistrysDataAlone()
    {
        using var data = new TempDirectory();
        await using var app = RegistryApp.Create([$"--Registry:DataDirectory={data.Path}", "--Registry:Listen=http://127.0.0.1:0", "--Registry:Access:Enabled=false"]);
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };

        Assert.True(await StartupWarmUp.RunAsync(UploadWriteMode.Cached, NullLogger.Instance));

        Assert.DoesNotContain("warm-up", await http.GetStringAsync("/v2/_catalog"), StringComparison.Ordinal);
        Assert.DoesNotContain(Directory.EnumerateFiles(data.Path, "*", SearchOption.AllDirectories), f => f.Contains("blobs", StringComparison.Ordinal));
        await app.StopAsync();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task TheSiloWarmUpActivatesAPushsGrainsBeforeTheServerListensAndStoresNothing(bool warmUp)
    {
        using var data = new TempDirectory();
        await using var app = RegistryApp.Create([$"--Registry:DataDirectory={data.Path}", "--Registry:Listen=http://127.0.0.1:0", "--Registry:Access:Enabled=false", $"--Registry:WarmUp={warmUp}"]);
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };

        // Counted before any request: the activations are the warm-up's.
        var statistics = await app.Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics();
        var kinds = statistics.Where(s => s.ActivationCount > 0).Select(s => s.GrainType).ToArray();
        foreach (var kind in new[] { "RepositoryGrain", "UploadSessionGrain", "CatalogIndexGrain", "NamespaceEventLogGrain" })
        {
            Assert.Equal(warmUp, kinds.Any(k => k.Contains(kind, StringComparison.Ordinal)));
        }

        Assert.Equal("""{"repositories":[]}""", await http.GetStringAsync("/v2/_catalog"));
        await app.StopAsync();
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(data.Path, "*", SearchOption.AllDirectories), f => f.Contains("warm-up", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task WarmUpIsOnUnlessTurnedOff()
    {
        using var data = new TempDirectory();
        await using var on = RegistryApp.Create([$"--Registry:DataDirectory={data.Path}", "--Registry:Listen=http://127.0.0.1:0", "--Registry:Access:Enabled=false"]);
        await using var off = RegistryApp.Create([$"--Registry:DataDirectory={data.Path}", "--Registry:Listen=http://127.0.0.1:0", "--Registry:Access:Enabled=false", "--Registry:WarmUp=false"]);

        Assert.True(on.Services.GetRequiredService<IOptions<ApiOptions>>().Value.WarmUp);
        Assert.False(off.Services.GetRequiredService<IOptions<ApiOptions>>().Value.WarmUp);
    }

    private sealed class ListLogger : ILogger
    {
        public List<string> Messages { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Messages)
            {
                Messages.Add(formatter(state, exception));
            }
        }
    }
}
