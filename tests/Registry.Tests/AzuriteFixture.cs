namespace Registry.Tests;

/// <summary>One Azurite per test class (an xunit class fixture); tests use their own containers and names.</summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    private Azurite? _azurite;

    public string ConnectionString => (_azurite ?? throw new InvalidOperationException("Azurite is not started")).ConnectionString;

    /// <summary>A name valid for a container, a table prefix or a cluster id, used by nobody else.</summary>
    public static string UniqueName(string prefix = "t") => prefix + Guid.NewGuid().ToString("N")[..20];

    public async Task InitializeAsync() => _azurite = await Azurite.StartAsync();

    public async Task DisposeAsync()
    {
        if (_azurite is not null)
        {
            await _azurite.DisposeAsync();
        }
    }
}
