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
