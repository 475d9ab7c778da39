using System.Globalization;
using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.TestingHost;
using Registry.Grains;
using Registry.Silo;
using Registry.Storage;

namespace Registry.Tests;

/// <summary>
/// Silos in this process (Orleans TestingHost, real TCP between them) composed by the registry's own
/// <see cref="RegistrySiloExtensions.AddRegistry"/> in cluster mode: Azure Table membership and reminders,
/// grain state in Azure Blob Storage, Azure Queue streams, blob bytes in Azure Blob Storage, all in Azurite.
/// A fresh cluster with the same name over the same Azurite is a restart of the same registry.
/// </summary>
public sealed class AzureTestCluster : IAsyncDisposable
{
    private const string ConnectionStringKey = "Registry:Azure:ConnectionString";

    private AzureTestCluster(TestCluster cluster, AzureBlobStore store)
    {
        Cluster = cluster;
        Store = store;
    }

    public TestCluster Cluster { get; }

    /// <summary>A blob store over the container the silos use.</summary>
    public AzureBlobStore Store { get; }

    public IClusterClient Client => Cluster.Client;

    public IReadOnlyList<SiloHandle> Silos => Cluster.Silos;

    /// <param name="name">Cluster id, service id and blob container at once (grain state goes to <c>{name}-grains</c>).</param>
    public static async Task<AzureTestCluster> StartAsync(string connectionString, string name, short silos, int? tagHistoryLimit = null)
    {
        var store = new AzureBlobStore(AzureClients.Create(connectionString, null, null, null).Blobs.GetBlobContainerClient(name));
        await store.InitializeAsync(CancellationToken.None);

        var builder = new TestClusterBuilder(silos);
        builder.Options.ClusterId = name;
        builder.Options.ServiceId = name;
        builder.Options.UseTestClusterMembership = false; // the registry's own Azure Table membership
        builder.Options.ConnectionTransport = ConnectionTransportType.TcpSocket;
        builder.Options.ConfigureFileLogging = false;
        builder.Properties["Registry:Mode"] = "Cluster";
        builder.Properties[ConnectionStringKey] = connectionString;
        builder.Properties["Registry:Azure:Container"] = name;
        builder.Properties["Registry:Cluster:ClusterId"] = name;
        builder.Properties["Registry:Cluster:ServiceId"] = name;
        builder.Properties["Registry:Cluster:AdvertisedAddress"] = IPAddress.Loopback.ToString();
        if (tagHistoryLimit is { } limit)
        {
            builder.Properties["Registry:Repositories:TagHistoryLimit"] = limit.ToString(CultureInfo.InvariantCulture);
        }

        builder.AddSiloBuilderConfigurator<RegistrySiloConfigurator>();
        builder.AddClientBuilderConfigurator<RegistryClientConfigurator>();
        var cluster = builder.Build();
        try
        {
            await cluster.DeployAsync().WaitAsync(TimeSpan.FromMinutes(2));
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }

        return new AzureTestCluster(cluster, store);
    }

    /// <summary>A silo's own grain factory: calls through it start on that silo, as the co-hosted API's do.</summary>
    public IGrainFactory FactoryOf(SiloHandle silo) => Cluster.GetSiloServiceProvider(silo.SiloAddress).GetRequiredService<IGrainFactory>();

    /// <summary>The silo that hosts the grain's activation now, or null when it is not active anywhere.</summary>
    public SiloHandle? HostOf(IAddressable grain)
        => Cluster.TryGetGrainContext(grain.GetGrainId(), out var context)
            ? Silos.FirstOrDefault(s => s.SiloAddress.Equals(context.Address.SiloAddress))
            : null;

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Cluster.StopAllSilosAsync().WaitAsync(TimeSpan.FromMinutes(2));
        }
        finally
        {
            await Cluster.DisposeAsync();
        }
    }

    private static AzureClients Azure(IConfiguration configuration)
        => AzureClients.Create(configuration[ConnectionStringKey], null, null, null);

    /// <summary>The registry's own silo composition; TestCluster chooses the ports.</summary>
    public sealed class RegistrySiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            var ports = new Dictionary<string, string?>
            {
                ["Registry:Cluster:SiloPort"] = silo.Configuration["Orleans:Endpoints:SiloPort"],
                ["Registry:Cluster:GatewayPort"] = silo.Configuration["Orleans:EndPoints:GatewayPort"] ?? "0",
            };
            silo.AddRegistry(new ConfigurationBuilder().AddConfiguration(silo.Configuration).AddInMemoryCollection(ports).Build());
        }
    }

    public sealed class RegistryClientConfigurator : IClientBuilderConfigurator
    {
        public void Configure(IConfiguration configuration, IClientBuilder client)
            => client.UseAzureStorageClustering(o => o.TableServiceClient = Azure(configuration).Tables);
    }
}
