using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Storage;
using Registry.Grains;

namespace Registry.Silo;

/// <summary>Where a cluster silo listens and which cluster it joins.</summary>
public sealed record ClusterSettings(string ClusterId, string ServiceId, int SiloPort, int GatewayPort, IPAddress? AdvertisedAddress, string StateContainer);

public static class RegistrySiloExtensions
{
    /// <summary>
    /// Embedded mode: a single silo on localhost whose grain state lives in files under
    /// <paramref name="stateDirectory"/>. Without a gateway: the only client is the co-hosted API.
    /// </summary>
    public static ISiloBuilder AddEmbeddedRegistrySilo(this ISiloBuilder silo, string stateDirectory, int siloPort)
    {
        silo.UseLocalhostClustering(siloPort: siloPort, gatewayPort: 0);
        silo.AddRegistryDefaults();
        silo.Services.AddKeyedSingleton<IGrainStorage>(
            GrainStorageNames.Provider,
            (sp, _) => new FileGrainStorage(stateDirectory, sp.GetRequiredService<Serializer>(), new HashSet<string> { GrainStorageNames.UploadState }));
        silo.AddMemoryGrainStorage("PubSubStore");

        // A consumer that fell behind gets everything queued for it in one delivery (the event log
        // then stores it in one write). Safe here because the outbox, not the memory stream, holds
        // an event until its consumers have stored it; Azure queues keep the default (see docs/events.md).
        silo.AddMemoryStreams(RegistryStreams.Provider, b => b.ConfigurePullingAgent(o => o.Configure(a => a.BatchContainerBatchSize = MemoryStreamDeliveryBatch)));

        // Memory streams lose what they hold when the process stops or dies: published events stay
        // in their repository's outbox until the durable consumers acknowledge them.
        silo.Services.AddOptions<EventOutboxOptions>().PostConfigure(o => o.AwaitAcknowledgements = true);
        silo.Services.AddMetrics();
        silo.Services.TryAddSingleton<EventOutboxMetrics>();
        silo.Services.AddSingleton(TimeProvider.System);
        return silo;
    }

    /// <summary>
    /// Cluster mode: membership in Azure Table Storage, grain state in Azure Blob Storage (a
    /// repository's state can outgrow a 1 MiB table entity), events on Azure Queue Storage.
    /// Every replica runs one silo; Orleans places grains across them.
    /// </summary>
    public static ISiloBuilder AddClusterRegistrySilo(this ISiloBuilder silo, AzureClients azure, ClusterSettings cluster)
    {
        silo.AddRegistryDefaults();
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = cluster.ClusterId;
            o.ServiceId = cluster.ServiceId;
        });
        silo.Configure<EndpointOptions>(o =>
        {
            o.SiloPort = cluster.SiloPort;
            o.GatewayPort = cluster.GatewayPort;
            if (cluster.AdvertisedAddress is { } address)
            {
                o.AdvertisedIPAddress = address;
            }

            o.SiloListeningEndpoint = new IPEndPoint(IPAddress.Any, cluster.SiloPort);
            if (cluster.GatewayPort > 0)
            {
                o.GatewayListeningEndpoint = new IPEndPoint(IPAddress.Any, cluster.GatewayPort);
            }
        });
        silo.UseAzureStorageClustering(o => o.TableServiceClient = azure.Tables);
        silo.AddAzureBlobGrainStorage(GrainStorageNames.Provider, (OptionsBuilder<AzureBlobStorageOptions> options) => options.Configure<Serializer>((o, serializer) =>
        {
            o.BlobServiceClient = azure.Blobs;
            o.ContainerName = cluster.StateContainer;
            o.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer);
        }));
        silo.AddAzureTableGrainStorage("PubSubStore", o => o.TableServiceClient = azure.Tables);
        silo.AddAzureQueueStreams(RegistryStreams.Provider, (OptionsBuilder<AzureQueueOptions> options) => options.Configure(o =>
        {
            o.QueueServiceClient = azure.Queues;
            o.QueueNames = Enumerable.Range(0, 4).Select(i => $"{cluster.StateContainer}-events-{i}").ToList();
        }));

        // Azure queues are durable: an event leaves the outbox once published (no acknowledgements).
        silo.Services.AddOptions<EventOutboxOptions>().PostConfigure(o => o.AwaitAcknowledgements = false);
        silo.Services.AddMetrics();
        silo.Services.TryAddSingleton<EventOutboxMetrics>();
        silo.Services.AddSingleton(TimeProvider.System);
        return silo;
    }

    /// <summary>
    /// At most this many publishes (each up to 32 events) go to a consumer in one delivery, in
    /// embedded mode. A failed delivery comes again whole, so its up to 512 events stay within
    /// what every consumer recognises as duplicates (a webhook queue remembers its last 1,024 ids).
    /// </summary>
    private const int MemoryStreamDeliveryBatch = 16;

    /// <summary>Settings both modes share.</summary>
    private static void AddRegistryDefaults(this ISiloBuilder silo)
    {
        // Orleans sizes its grain-location cache for a million grains up front (~18 MiB); a
        // registry's hot set is its active repositories and uploads, far fewer.
        silo.Configure<GrainDirectoryOptions>(o => o.CacheSize = 100_000);
    }
}
