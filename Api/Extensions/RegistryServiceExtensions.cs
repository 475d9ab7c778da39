using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;
using Registry.Api.Oci;
using Registry.Api.Services;
using Registry.Grains;
using Registry.Silo;
using Registry.Storage;

namespace Registry.Api.Extensions;

public static class RegistryServiceExtensions
{
    /// <summary>Binds and validates the <c>Registry</c> section; a bad value stops the host at start.</summary>
    public static RegistryOptions AddRegistryOptions(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<RegistryOptions>().Bind(builder.Configuration.GetSection(RegistryOptions.Section)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<RegistryOptions>, RegistryOptionsValidator>();
        var options = builder.Configuration.GetSection(RegistryOptions.Section).Get<RegistryOptions>() ?? new RegistryOptions();
        var failures = new RegistryOptionsValidator().Validate(null, options);
        if (failures.Failed)
        {
            throw new OptionsValidationException(RegistryOptions.Section, typeof(RegistryOptions), failures.Failures);
        }

        options.DataDirectory = Path.GetFullPath(options.DataDirectory);
        builder.Services.PostConfigure<RegistryOptions>(o => o.DataDirectory = options.DataDirectory);
        builder.Services.AddSingleton(TimeProvider.System);
        return options;
    }

    /// <summary>Kestrel on the configured address with no global body limit: blobs are streamed, manifests capped per route.</summary>
    public static void AddRegistryKestrel(this WebApplicationBuilder builder, RegistryOptions options)
    {
        builder.WebHost.UseUrls(options.Listen);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.AddServerHeader = false;
        });

        // 64 KiB socket buffers: a blob body arrives in 1/16 of the receive calls of Kestrel's default.
        builder.Services.AddSingleton<IMemoryPoolFactory<byte>, LargeBlockMemoryPoolFactory>();
    }

    /// <summary>
    /// The storage driver: the filesystem under the data directory (embedded) or an Azure Blob
    /// Storage container (cluster). Nothing above <see cref="IBlobStore"/> knows which.
    /// </summary>
    public static void AddRegistryStorage(this WebApplicationBuilder builder, RegistryOptions options)
    {
        if (options.Mode == RegistryMode.Embedded)
        {
            builder.Services.AddSingleton<IBlobStore>(new FileSystemBlobStore(options.DataDirectory));
            return;
        }

        var azure = AzureClientsOf(options);
        var store = new AzureBlobStore(azure.Blobs.GetBlobContainerClient(options.Azure.Container));
        builder.Services.AddSingleton<IBlobStore>(store);
        builder.Services.AddHostedService(_ => new StartupTask(store.InitializeAsync));
    }

    /// <summary>The co-hosted silo: embedded keeps grain state under <c>{data}/state</c>, cluster in Azure Storage.</summary>
    public static void AddRegistrySilo(this WebApplicationBuilder builder, RegistryOptions options)
    {
        if (options.Mode == RegistryMode.Embedded)
        {
            var siloPort = options.Cluster.SiloPort == 0 ? FreeLoopbackPort() : options.Cluster.SiloPort;
            builder.UseOrleans(silo => silo.AddEmbeddedRegistrySilo(Path.Combine(options.DataDirectory, "state"), siloPort));
        }
        else
        {
            var cluster = new ClusterSettings(
                options.Cluster.ClusterId,
                options.Cluster.ServiceId,
                options.Cluster.SiloPort == 0 ? 11111 : options.Cluster.SiloPort,
                options.Cluster.GatewayPort,
                options.Cluster.AdvertisedAddress is { Length: > 0 } a ? IPAddress.Parse(a) : null,
                options.Azure.Container + "-grains");
            var azure = AzureClientsOf(options);
            builder.UseOrleans(silo => silo.AddClusterRegistrySilo(azure, cluster));
        }

        builder.Services.Configure<RepositoryGrainOptions>(builder.Configuration.GetSection("Registry:Repositories"));
        builder.Services.AddOptions<EventOutboxOptions>()
            .Bind(builder.Configuration.GetSection(EventOutboxOptions.Section))
            .Validate(o => o.Capacity >= 1 && o.MaxAge > TimeSpan.Zero && o.TrimDelay > TimeSpan.Zero, "Registry:Events:Outbox:Capacity must be at least 1, MaxAge and TrimDelay positive durations (defaults 1000, 00:05:00, 00:00:05).")
            .ValidateOnStart();
    }

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

    /// <summary>The OCI distribution API's services and handlers.</summary>
    public static void AddOciApi(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton<UploadHashes>();
        services.AddSingleton<BlobService>();
        services.AddSingleton<ManifestService>();
        services.AddSingleton<BlobHandlers>();
        services.AddSingleton<UploadHandlers>();
        services.AddSingleton<ManifestHandlers>();
        services.AddSingleton<ListingHandlers>();
        services.AddSingleton<OciEndpoint>();
        services.AddSingleton<UploadJanitor>();
        services.AddHostedService(sp => sp.GetRequiredService<UploadJanitor>());
    }

    private static int FreeLoopbackPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
