using Microsoft.Extensions.Options;
using Registry.Api;
using Registry.Silo;

namespace Registry.Tests;

/// <summary>Cluster mode with settings that cannot work refuses to start, naming the setting to fix.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ClusterStartupValidationTests
{
    /// <summary>Well-formed; nothing needs to listen there, since every case fails before connecting.</summary>
    private const string ValidConnectionString = "UseDevelopmentStorage=true";

    public static TheoryData<string[], string> BadSettings() => new()
    {
        { ["--Registry:Mode=Cluster"], "Registry:Azure:ConnectionString" },
        { ["--Registry:Mode=Cluster", "--Registry:Azure:ConnectionString=not a connection string"], "Registry:Azure:ConnectionString" },
        { ["--Registry:Mode=Cluster", "--Registry:Azure:ConnectionString=AccountName=devstoreaccount1"], "Registry:Azure:ConnectionString" },
        { ["--Registry:Mode=Cluster", $"--Registry:Azure:ConnectionString={ValidConnectionString}", "--Registry:Azure:Container=Bad_Container"], "Registry:Azure:Container" },
        { ["--Registry:Mode=Cluster", $"--Registry:Azure:ConnectionString={ValidConnectionString}", "--Registry:Azure:Container=ab"], "Registry:Azure:Container" },
        { ["--Registry:Mode=Cluster", $"--Registry:Azure:ConnectionString={ValidConnectionString}", "--Registry:Cluster:AdvertisedAddress=registry-0.registry"], "Registry:Cluster:AdvertisedAddress" },
        { ["--Registry:Mode=Cluster", "--Registry:Azure:BlobServiceUri=https://storage.example.com/"], "Registry:Azure:TableServiceUri" },
    };

    /// <summary>Settings of either mode, each with the whole message it must produce: the setting, the value and what to use instead.</summary>
    public static TheoryData<string, string> BadValues() => new()
    {
        { "--Registry:Cluster:SiloPort=70000", "Registry:Cluster:SiloPort 70000 is not a port: use 0 (the mode's default) or 1-65535." },
        { "--Registry:Cluster:GatewayPort=-1", "Registry:Cluster:GatewayPort -1 is not a port: use 0 (none) or 1-65535." },
        { "--Registry:Uploads:Expiry=00:00:00", "Registry:Uploads:Expiry 00:00:00 must be a positive duration such as 24:00:00." },
        { "--Registry:Uploads:CacheHandOffMaxBlobBytes=-1", "Registry:Uploads:CacheHandOffMaxBlobBytes -1 is negative: use 0 (no hand-off to the page cache) or a size in bytes (the default is 1073741824)." },
        { "--Registry:Uploads:CacheHandOffMaxPendingBytes=1048576", "Registry:Uploads:CacheHandOffMaxPendingBytes 1048576 is smaller than Registry:Uploads:CacheHandOffMaxBlobBytes 1073741824, so the largest blobs allowed could never be handed to the page cache: use at least 1073741824 (the default is 2147483648), or set both to 0 to turn the hand-off off." },
        { "--Registry:Uploads:SweepInterval=00:00:10", "Registry:Uploads:SweepInterval 00:00:10 is too short: use at least 00:01:00 (a reminder's shortest period), such as 01:00:00." },
        { "--Registry:Limits:MaxManifestBytes=100", "Registry:Limits:MaxManifestBytes 100 is too small: use at least 4096 (the default is 4194304)." },
        { "--Registry:Limits:MaxPageSize=0", "Registry:Limits:MaxPageSize 0 must be at least 1 (the default is 10000)." },
        { "--Registry:Limits:ReadBufferBytes=1048576", "Registry:Limits:ReadBufferBytes 1048576 is too small: use at least 8388608 (the default is 16777216)." },
        { "--Registry:Listen=ftp://127.0.0.1:5000", "Registry:Listen 'ftp://127.0.0.1:5000' is not an http(s) URL: use e.g. http://127.0.0.1:5000." },
    };

    /// <summary>Typos the configuration binder would skip without a word, each with what the refusal must name.</summary>
    public static TheoryData<string[], string> Typos() => new()
    {
        { ["--Registry:Webhook:Endpoints:0:Url=http://127.0.0.1:9/hook"], "Registry:Webhook is not a setting of the registry" },
        { ["--Registry:Events:Wach:Heartbeat=00:00:01"], "Registry:Events:Wach is not a setting of the registry" },
        { ["--Registry:Limits:MaxPageSise=5"], "'MaxPageSise'" },
        { ["--Registry:Uploads:Expiry=soon"], "'Registry:Uploads:Expiry'" },
        { ["--Registry:Uploads:WriteMode=Buffered"], "'Registry:Uploads:WriteMode'" },
        { ["--Registry:Webhooks:Endpoints:0:Name=a", "--Registry:Webhooks:Endpoints:0:Url=http://127.0.0.1:9/hook", "--Registry:Webhooks:Endpoints:0:Timeout=abc"], "'Registry:Webhooks:Endpoints:0:Timeout'" },
        { ["--Registry:Webhooks:Endpoints:0:Name=a", "--Registry:Webhooks:Endpoints:0:Url=http://127.0.0.1:9/hook", "--Registry:Webhooks:Endpoints:0:Timout=00:00:01"], "'Timout'" },
        { ["--Registry:Webhooks:Endpoints:0:Name=a", "--Registry:Webhooks:Endpoints:0:Url=http://127.0.0.1:9/hook", "--Registry:Webhooks:Endpoints:0:IgnoredActions:0=pussh"], "Registry:Webhooks:Endpoints:0:IgnoredActions:0 'pussh' is not an action" },
    };

    [Theory]
    [MemberData(nameof(Typos))]
    public void AnUnknownSettingOrAnUnreadableValueStopsTheHostInsteadOfBeingSkipped(string[] settings, string named)
    {
        using var data = new TempDirectory();

        var failure = Assert.Throws<OptionsValidationException>(() => RegistryApp.Create([$"--Registry:DataDirectory={data.Path}", "--Registry:Listen=http://127.0.0.1:0", .. settings]));

        Assert.Contains(failure.Failures, f => f.Contains(named, StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(BadValues))]
    public void ABadValueStopsTheHostWhileItIsBuiltWithAMessageThatSaysWhatToUse(string setting, string message)
    {
        using var data = new TempDirectory();

        var failure = Assert.Throws<OptionsValidationException>(() => RegistryApp.Create([$"--Registry:DataDirectory={data.Path}", "--Registry:Listen=http://127.0.0.1:0", setting]));

        Assert.Equal([message], failure.Failures);
    }

    [Theory]
    [MemberData(nameof(BadSettings))]
    public async Task RefusesToStartNamingTheSetting(string[] settings, string setting)
    {
        using var data = new TempDirectory();
        string[] args = [$"--Registry:DataDirectory={data.Path}", "--Registry:Listen=http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning", .. settings];

        var failure = await Assert.ThrowsAsync<OptionsValidationException>(async () =>
        {
            await using var app = RegistryApp.Create(args);
            await app.StartAsync().WaitAsync(Bounded.Timeout);
            await app.StopAsync();
        });

        Assert.Contains(setting, failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ValidClusterSettingsPassValidation()
    {
        // The counterpart of the cases above: the same settings, put right, are accepted.
        var options = new RegistryOptions
        {
            Mode = RegistryMode.Cluster,
            Azure = { ConnectionString = ValidConnectionString, Container = "registry-prod" },
            Cluster = { AdvertisedAddress = "10.1.2.3" },
        };

        var result = new RegistryOptionsValidator().Validate(null, options);

        Assert.True(result.Succeeded, result.FailureMessage);
    }
}
