using System.Net;
using System.Net.Sockets;
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
    }

    /// <summary>The storage driver of embedded mode: the filesystem under the data directory.</summary>
    public static void AddRegistryStorage(this WebApplicationBuilder builder, RegistryOptions options)
    {
        builder.Services.AddSingleton<IBlobStore>(new FileSystemBlobStore(options.DataDirectory));
    }

    /// <summary>The co-hosted silo; grain state under <c>{data}/state</c>.</summary>
    public static void AddRegistrySilo(this WebApplicationBuilder builder, RegistryOptions options)
    {
        var siloPort = options.SiloPort == 0 ? FreeLoopbackPort() : options.SiloPort;
        builder.UseOrleans(silo => silo.AddEmbeddedRegistrySilo(Path.Combine(options.DataDirectory, "state"), siloPort));
        builder.Services.Configure<RepositoryGrainOptions>(builder.Configuration.GetSection("Registry:Repositories"));
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
