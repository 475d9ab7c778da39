using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;
using Registry.Api.Oci;
using Registry.Api.Services;
using Registry.Silo;

namespace Registry.Api.Extensions;

public static class RegistryServiceExtensions
{
    /// <summary>
    /// The HTTP host's settings, Kestrel, and the OCI distribution API's services and handlers.
    /// Call after <see cref="RegistrySiloExtensions.AddRegistrySilo"/>: the services use the storage it registers.
    /// </summary>
    public static ApiOptions AddRegistryApi(this WebApplicationBuilder builder)
    {
        RegistrySettings.Verify(builder.Configuration, ("Limits", typeof(LimitOptions)), ("Audit", typeof(Events.AuditOptions)), ("Events:Watch", typeof(Events.WatchOptions)), ("Access", typeof(Access.AccessOptions)), ("Retention", typeof(Lifecycle.RetentionOptions)));
        var options = builder.Configuration.BindValidated(RegistryOptions.Section, new ApiOptionsValidator());
        var services = builder.Services;
        services.AddSingleton(Options.Create(options));
        builder.AddRegistryKestrel(options);

        services.AddSingleton(new ReadWindowBudget(options.Limits.ReadBufferBytes));
        services.AddSingleton<UploadHashes>();
        services.AddSingleton<BlobService>();
        services.AddSingleton<ManifestService>();
        services.AddSingleton<BlobHandlers>();
        services.AddSingleton<UploadHandlers>();
        services.AddSingleton<Lifecycle.PullRecorder>();

        // Registered after the silo's: stopped before it, so the last pulls reach the grains (docs/retention.md).
        services.AddHostedService(sp => sp.GetRequiredService<Lifecycle.PullRecorder>());

        // After the silo's and before the server's: the server listens once the grains are warm.
        services.AddHostedService<SiloWarmUp>();
        services.AddSingleton<ManifestHandlers>();
        services.AddSingleton<ListingHandlers>();
        services.AddSingleton<OciEndpoint>();
        return options;
    }

    /// <summary>Kestrel on the configured address with no global body limit: blobs are streamed, manifests capped per route.</summary>
    private static void AddRegistryKestrel(this WebApplicationBuilder builder, ApiOptions options)
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
    /// Says in one line, once the server listens, where the registry serves, in which mode and
    /// where its data lives; warns when the API is reachable beyond this machine over plain HTTP.
    /// </summary>
    public static void LogStartup(this WebApplication app, ApiOptions api, RegistryOptions silo)
    {
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var data = silo.Mode == RegistryMode.Embedded
                ? silo.DataDirectory
                : $"Azure Storage container {silo.Azure.Container} (grain state in {silo.Azure.StateContainer})";
            Log.Started(app.Logger, string.Join(", ", app.Urls), silo.Mode, data);
        });

        if (api.ListenUri is { Scheme: "http" } listen && !IsLoopback(listen))
        {
            Log.ListeningBeyondLoopback(app.Logger, api.Listen);
        }
    }

    private static bool IsLoopback(Uri listen)
        => listen.IsLoopback || (System.Net.IPAddress.TryParse(listen.Host.Trim('[', ']'), out var ip) && System.Net.IPAddress.IsLoopback(ip));
}
