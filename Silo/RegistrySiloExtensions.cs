using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Storage;
using Registry.Grains;
using Registry.Silo.Failover;
using Registry.Storage;

namespace Registry.Silo;

/// <summary>
/// The one composition root of a registry silo: everything a silo needs in either mode — storage
/// driver, grain storage, clustering, streams, reminders, grain options, webhooks and the periodic
/// jobs. The HTTP host, the headless silo host and the tests all compose silos through it.
/// </summary>
public static class RegistrySiloExtensions
{
    /// <summary>Adds a registry silo to the host; returns the validated settings it runs with.</summary>
    public static RegistryOptions AddRegistrySilo(this IHostApplicationBuilder builder)
    {
        RegistryOptions? options = null;
        builder.UseOrleans(silo => options = silo.AddRegistry(builder.Configuration));

        // Orleans' watchdog starts its stall check before it stamps the first participant check, so
        // every start warns of a stall as long as the machine's uptime: its warnings are kept back
        // while the silo starts, and logged from then on (errors always).
        // Orleans places grains through a Polly pipeline that logs every placement at Information.
        builder.Logging.AddFilter("Polly", LogLevel.Warning);
        var started = TimeProvider.System.GetTimestamp();
        builder.Logging.AddFilter(
            "Orleans.Runtime.Watchdog",
            level => level >= LogLevel.Error || (level == LogLevel.Warning && TimeProvider.System.GetElapsedTime(started) > WatchdogStartupWindow));
        return options!;
    }

    /// <summary>
    /// Composes a registry silo from the <c>Registry</c> section of <paramref name="configuration"/>.
    /// Invalid settings throw <see cref="OptionsValidationException"/> with messages that say what to set.
    /// </summary>
    public static RegistryOptions AddRegistry(this ISiloBuilder silo, IConfiguration configuration)
    {
        var options = Bind(configuration);
        var services = silo.Services;
        services.AddSingleton(Options.Create(options));
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.TryAddSingleton<RegistryMeter>();

        var azure = options.Mode == RegistryMode.Cluster ? AzureClientsOf(options) : null;
        services.AddRegistryStorage(options, azure);
        services.AddGrainOptions(configuration, options);
        services.AddRegistryWebhooks(configuration);
        services.TryAddSingleton<EventOutboxMetrics>();
        services.TryAddSingleton<QuotaMetrics>();
        services.TryAddSingleton<RetentionMetrics>();
        services.TryAddSingleton<UploadMetrics>();
        services.AddSingleton<UploadSweeper>();
        services.AddSingleton<IUploadSweeper>(sp => sp.GetRequiredService<UploadSweeper>());
        services.AddSingleton<IGarbageCollector, GarbageCollector>();
        services.TryAddSingleton<GarbageCollectionMetrics>();
        services.TryAddSingleton<CollectionEvents>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, RegistrySiloLifecycle>();
        services.TryAddSingleton<FailoverMetrics>();
        silo.AddOutgoingGrainCallFilter<FailoverRetryFilter>();

        // Orleans sizes its grain-location cache for a million grains up front (~18 MiB); a
        // registry's hot set is its active repositories and uploads, far fewer.
        silo.Configure<GrainDirectoryOptions>(o => o.CacheSize = 100_000);
        if (azure is null)
        {
            silo.AddEmbedded(options);
        }
        else
        {
            silo.AddCluster(options, azure);
        }

        return options;
    }

    /// <summary>Binds and validates the section once; the data directory becomes absolute.</summary>
    private static RegistryOptions Bind(IConfiguration configuration)
    {
        RegistrySettings.VerifySilo(configuration);
        var options = configuration.BindValidated(RegistryOptions.Section, new RegistryOptionsValidator());
        options.DataDirectory = Path.GetFullPath(options.DataDirectory);
        return options;
    }

    /// <summary>
    /// Binds a section and validates it now, so a bad setting stops the host while it is being
    /// built, with the validator's message; the result is registered as is, never validated again.
    /// </summary>
    public static T BindValidated<T>(this IConfiguration configuration, string section, IValidateOptions<T> validator)
        where T : class, new()
    {
        var options = configuration.GetSection(section).Get<T>() ?? new T();
        var result = validator.Validate(null, options);
        if (result.Failed)
        {
            throw new OptionsValidationException(section, typeof(T), result.Failures);
        }

        return options;
    }

    /// <summary>
    /// The storage driver: the filesystem under the data directory (embedded) or an Azure Blob
    /// Storage container (cluster). Nothing above <see cref="IBlobStore"/> knows which.
    /// </summary>
    private static void AddRegistryStorage(this IServiceCollection services, RegistryOptions options, AzureClients? azure)
    {
        if (azure is null)
        {
            services.AddSingleton<IBlobStore>(new FileSystemBlobStore(options.DataDirectory, options.Uploads.WriteMode, options.Uploads.ToCacheHandOff()));
            services.AddSingleton(new StorageInitializer(_ => Task.CompletedTask));
        }
        else
        {
            var store = new AzureBlobStore(azure.Blobs.GetBlobContainerClient(options.Azure.Container));
            services.AddSingleton<IBlobStore>(store);
            services.AddSingleton(new StorageInitializer(store.InitializeAsync));
        }

        services.AddSingleton<UploadStaging>();
    }

    /// <summary>What the grains read from configuration, bound and checked at start.</summary>
    private static void AddGrainOptions(this IServiceCollection services, IConfiguration configuration, RegistryOptions options)
    {
        services.Configure<RepositoryGrainOptions>(configuration.GetSection("Registry:Repositories"));
        services.PostConfigure<RepositoryGrainOptions>(o => o.LinkUseResolution = RepositoryPruning.UseResolutionFor(options.GarbageCollection.GracePeriod));
        services.AddOptions<EventOutboxOptions>()
            .Bind(configuration.GetSection(EventOutboxOptions.Section))
            .Validate(o => o.Capacity >= 1 && o.MaxAge > TimeSpan.Zero && o.TrimDelay > TimeSpan.Zero, "Registry:Events:Outbox:Capacity must be at least 1, MaxAge and TrimDelay positive durations (defaults 1000, 00:05:00, 00:00:05).")
            .ValidateOnStart();
        services.AddOptions<EventLogOptions>()
            .Bind(configuration.GetSection("Registry:Events:Log"))
            .Validate(o => o.Capacity >= 1 && o.SegmentSize >= 1, "Registry:Events:Log:Capacity and Registry:Events:Log:SegmentSize must be at least 1 (defaults 10000 and 256).")
            .ValidateOnStart();
        services.Configure<MaintenanceOptions>(o =>
        {
            o.UploadSweepInterval = options.Uploads.SweepInterval;
            o.GarbageCollectionInterval = options.GarbageCollection.Interval;
        });
    }

    /// <summary>
    /// Embedded mode: a single silo on localhost whose grain state lives in files under
    /// <c>{data}/state</c>. Without a gateway: the only client is the co-hosted API.
    /// </summary>
    private static void AddEmbedded(this ISiloBuilder silo, RegistryOptions options)
    {
        var siloPort = options.Cluster.SiloPort == 0 ? FreeLoopbackPort() : options.Cluster.SiloPort;
        silo.UseLocalhostClustering(siloPort: siloPort, gatewayPort: 0);
        var stateDirectory = Path.Combine(options.DataDirectory, "state");
        silo.Services.AddKeyedSingleton<IGrainStorage>(
            GrainStorageNames.Provider,
            (sp, _) => new FileGrainStorage(stateDirectory, sp.GetRequiredService<Serializer>(), new HashSet<string> { GrainStorageNames.UploadState }));
        silo.AddMemoryGrainStorage("PubSubStore");

        // Reminders live in memory: every silo start registers them again (RegistrySiloLifecycle).
        silo.UseInMemoryReminderService();

        // A consumer that fell behind gets everything queued for it in one delivery (the event log
        // then stores it in one write). Safe here because the outbox, not the memory stream, holds
        // an event until its consumers have stored it; Azure queues keep the default (see docs/events.md).
        silo.AddMemoryStreams(RegistryStreams.Provider, b => b.ConfigurePullingAgent(o => o.Configure(a => a.BatchContainerBatchSize = MemoryStreamDeliveryBatch)));

        // Memory streams lose what they hold when the process stops or dies: published events stay
        // in their repository's outbox until the durable consumers acknowledge them.
        silo.Services.AddOptions<EventOutboxOptions>().PostConfigure(o => o.AwaitAcknowledgements = true);
    }

    /// <summary>
    /// Cluster mode: membership and reminders in Azure Table Storage, grain state in Azure Blob
    /// Storage (a repository's state can outgrow a 1 MiB table entity), events on Azure Queue
    /// Storage. Every replica runs one silo; Orleans places grains across them.
    /// </summary>
    private static void AddCluster(this ISiloBuilder silo, RegistryOptions options, AzureClients azure)
    {
        var cluster = options.Cluster;
        var siloPort = cluster.SiloPort == 0 ? DefaultClusterSiloPort : cluster.SiloPort;
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = cluster.ClusterId;
            o.ServiceId = cluster.ServiceId;
        });
        silo.Configure<EndpointOptions>(o =>
        {
            o.SiloPort = siloPort;
            o.GatewayPort = cluster.GatewayPort;
            if (cluster.AdvertisedAddress is { Length: > 0 } address)
            {
                o.AdvertisedIPAddress = IPAddress.Parse(address);
            }

            o.SiloListeningEndpoint = new IPEndPoint(IPAddress.Any, siloPort);
            if (cluster.GatewayPort > 0)
            {
                o.GatewayListeningEndpoint = new IPEndPoint(IPAddress.Any, cluster.GatewayPort);
            }
        });
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            // A killed replica is declared dead after MissedProbesLimit probes of ProbeTimeout each
            // (docs/operations.md has the measured trade-off); two votes as in Orleans' default.
            o.ProbeTimeout = cluster.ProbeTimeout;
            o.NumMissedProbesLimit = cluster.MissedProbesLimit;

            // A joining silo must reach every Active silo, and it probes (and may vote dead) only
            // those whose row is stale (three missed I-am-alive writes): a replica that comes back at
            // another endpoint after the only other one was killed waits for that (docs/operations.md).
            o.IAmAliveTablePublishTimeout = IAmAlivePeriod;
        });
        if (KubernetesHosting.IsEnabled(cluster))
        {
            // Identity (silo name = pod name, pod IP) from the pod; a deleted pod's silo is declared dead at once.
            silo.UseKubernetesHosting();
        }

        silo.UseAzureStorageClustering(o => o.TableServiceClient = azure.Tables);
        silo.UseAzureTableReminderService(o => o.TableServiceClient = azure.Tables);
        silo.AddAzureBlobGrainStorage(GrainStorageNames.Provider, (OptionsBuilder<AzureBlobStorageOptions> builder) => builder.Configure<Serializer>((o, serializer) =>
        {
            o.BlobServiceClient = azure.Blobs;
            o.ContainerName = options.Azure.StateContainer;
            o.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer);
        }));
        silo.AddAzureTableGrainStorage("PubSubStore", o => o.TableServiceClient = azure.Tables);
        silo.AddAzureQueueStreams(RegistryStreams.Provider, (OptionsBuilder<AzureQueueOptions> builder) => builder.Configure(o =>
        {
            o.QueueServiceClient = azure.Queues;
            o.QueueNames = Enumerable.Range(0, 4).Select(i => $"{options.Azure.StateContainer}-events-{i}").ToList();
        }));

        // Azure queues are durable: an event leaves the outbox once published (no acknowledgements).
        silo.Services.AddOptions<EventOutboxOptions>().PostConfigure(o => o.AwaitAcknowledgements = false);
    }

    private const int DefaultClusterSiloPort = 11111;

    /// <summary>How often a silo writes its liveness to the membership table (Orleans' default: 30 s, so stale after 90 s).</summary>
    private static readonly TimeSpan IAmAlivePeriod = TimeSpan.FromSeconds(10);

    /// <summary>How long after the host is built the watchdog's warnings are held back (a silo start).</summary>
    private static readonly TimeSpan WatchdogStartupWindow = TimeSpan.FromMinutes(1);

    /// <summary>
    /// At most this many publishes (each up to 32 events) go to a consumer in one delivery, in
    /// embedded mode. A failed delivery comes again whole, so its up to 512 events stay within
    /// what every consumer recognises as duplicates (a webhook queue remembers its last 1,024 ids).
    /// </summary>
    private const int MemoryStreamDeliveryBatch = 16;

    private static AzureClients AzureClientsOf(RegistryOptions options)
    {
        try
        {
            return AzureClients.Create(options.Azure.ConnectionString, options.Azure.BlobServiceUri, options.Azure.TableServiceUri, options.Azure.QueueServiceUri);
        }
        catch (ArgumentException e)
        {
            throw new OptionsValidationException(RegistryOptions.Section, typeof(RegistryOptions), [e.Message]);
        }
    }

    private static int FreeLoopbackPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
