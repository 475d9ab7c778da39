using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.Storage;
using Registry.Grains;

namespace Registry.Silo;

public static class RegistrySiloExtensions
{
    /// <summary>
    /// Embedded mode: a single silo on localhost whose grain state lives in files under
    /// <paramref name="stateDirectory"/>. Without a gateway: the only client is the co-hosted API.
    /// </summary>
    public static ISiloBuilder AddEmbeddedRegistrySilo(this ISiloBuilder silo, string stateDirectory, int siloPort)
    {
        silo.UseLocalhostClustering(siloPort: siloPort, gatewayPort: 0);
        silo.Services.AddKeyedSingleton<IGrainStorage>(
            RegistryStorage.Name,
            (sp, _) => new FileGrainStorage(stateDirectory, sp.GetRequiredService<Serializer>()));
        silo.Services.AddSingleton(TimeProvider.System);
        return silo;
    }
}
