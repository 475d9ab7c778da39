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
/// <see cref="RegistrySiloExtensions.AddClusterRegistrySilo"/>: Azure Table membership, grain state in Azure
/// Blob Storage, Azure Queue streams, all in Azurite; plus the <see cref="AzureBlobStore"/> that upload-session
/// grains use. A fresh cluster with the same name over the same Azurite is a restart of the same registry.
/// </summary>
public sealed class AzureTestCluster : IAsyncDisposable
{
    private const string ConnectionStringKey = "RegistryTest:ConnectionString";
    private const string NameKey = "RegistryTest:Name";
    private const string HistoryLimitKey = "RegistryTest:TagHistoryLimit";

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
        builder.Properties[ConnectionStringKey] = connectionString;
        builder.Properties[NameKey] = name;
        if (tagHistoryLimit is { } limit)
        {
            builder.Properties[HistoryLimitKey] = limit.ToString(CultureInfo.InvariantCulture);
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

    /// <summary>What the registry's Api composes for cluster mode, minus HTTP (TestCluster gives the ports).</summary>
    public sealed class RegistrySiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            var config = silo.Configuration;
            var name = config[NameKey]!;
            var azure = Azure(config);
            var settings = new ClusterSettings(
                name,
                name,
                int.Parse(config["Orleans:Endpoints:SiloPort"]!, CultureInfo.InvariantCulture),
                int.Parse(config["Orleans:EndPoints:GatewayPort"] ?? "0", CultureInfo.InvariantCulture),
                IPAddress.Loopback,
                name + "-grains");
            silo.AddClusterRegistrySilo(azure, settings);
            silo.Services.AddSingleton<IBlobStore>(new AzureBlobStore(azure.Blobs.GetBlobContainerClient(name)));
            if (config[HistoryLimitKey] is { } limit)
            {
                silo.Services.Configure<RepositoryGrainOptions>(o => o.TagHistoryLimit = int.Parse(limit, CultureInfo.InvariantCulture));
            }
        }
    }

    public sealed class RegistryClientConfigurator : IClientBuilderConfigurator
    {
        public void Configure(IConfiguration configuration, IClientBuilder client)
            => client.UseAzureStorageClustering(o => o.TableServiceClient = Azure(configuration).Tables);
    }
}
