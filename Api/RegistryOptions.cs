using Microsoft.Extensions.Options;

namespace Registry.Api;

/// <summary>The <c>Registry</c> configuration section (environment: <c>Registry__Name</c>).</summary>
public sealed class RegistryOptions
{
    public const string Section = "Registry";

    /// <summary>Embedded: one process, filesystem. Cluster: many replicas sharing Azure Storage.</summary>
    public RegistryMode Mode { get; set; } = RegistryMode.Embedded;

    /// <summary>Where blobs, uploads and grain state live. Relative paths are taken from the working directory.</summary>
    public string DataDirectory { get; set; } = "data";

    /// <summary>The URL the HTTP API listens on. Loopback only unless set otherwise.</summary>
    public string Listen { get; set; } = "http://127.0.0.1:5000";

    public AzureOptions Azure { get; set; } = new();

    public ClusterOptions Cluster { get; set; } = new();

    public LimitOptions Limits { get; set; } = new();

    public UploadOptions Uploads { get; set; } = new();
}

public enum RegistryMode
{
    Embedded,
    Cluster,
}

/// <summary>Azure Storage of cluster mode: a connection string, or service URIs with DefaultAzureCredential.</summary>
public sealed class AzureOptions
{
    public string? ConnectionString { get; set; }

    public Uri? BlobServiceUri { get; set; }

    /// <summary>Defaults to the blob URI with <c>.blob.</c> replaced by <c>.table.</c>.</summary>
    public Uri? TableServiceUri { get; set; }

    /// <summary>Defaults to the blob URI with <c>.blob.</c> replaced by <c>.queue.</c>.</summary>
    public Uri? QueueServiceUri { get; set; }

    /// <summary>The container for blob bytes; grain state goes to <c>{Container}-grains</c>.</summary>
    public string Container { get; set; } = "registry";
}

public sealed class ClusterOptions
{
    /// <summary>Replicas with the same ClusterId and ServiceId form one cluster.</summary>
    public string ClusterId { get; set; } = "registry";

    public string ServiceId { get; set; } = "registry";

    /// <summary>The address other silos reach this one at (the pod IP); unset: the host's first address.</summary>
    public string? AdvertisedAddress { get; set; }

    /// <summary>The silo-to-silo port; 0 (the default) picks a free loopback port in embedded mode and 11111 in cluster mode.</summary>
    public int SiloPort { get; set; }

    /// <summary>The Orleans gateway port for external clients; 0 (the default) opens none.</summary>
    public int GatewayPort { get; set; }
}

public sealed class LimitOptions
{
    /// <summary>The largest manifest body accepted; larger bodies get 413.</summary>
    public int MaxManifestBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>The most names one tags-list or catalog page returns; larger <c>n</c> is clamped.</summary>
    public int MaxPageSize { get; set; } = 10_000;

    /// <summary>Memory for manifest bytes kept by the API host (content-addressed, so never stale).</summary>
    public long ManifestCacheBytes { get; set; } = 32 * 1024 * 1024;
}

public sealed class UploadOptions
{
    /// <summary>An upload session not finished within this time is deleted with its staged bytes.</summary>
    public TimeSpan Expiry { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How often expired upload sessions are looked for.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromHours(1);
}

/// <summary>Refuses to start with settings that cannot work, saying which setting to change.</summary>
public sealed class RegistryOptionsValidator : IValidateOptions<RegistryOptions>
{
    public ValidateOptionsResult Validate(string? name, RegistryOptions options)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.DataDirectory))
        {
            failures.Add("Registry:DataDirectory is empty: set it to a writable directory, e.g. Registry__DataDirectory=/var/lib/registry.");
        }

        if (!Uri.TryCreate(options.Listen.Replace("*", "0.0.0.0", StringComparison.Ordinal).Replace("+", "0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var listen) || listen.Scheme is not ("http" or "https"))
        {
            failures.Add($"Registry:Listen '{options.Listen}' is not an http(s) URL: use e.g. http://127.0.0.1:5000.");
        }

        if (options.Mode == RegistryMode.Cluster)
        {
            if (string.IsNullOrWhiteSpace(options.Azure.ConnectionString) && options.Azure.BlobServiceUri is null)
            {
                failures.Add("Registry:Mode is Cluster but no Azure Storage is configured: set Registry:Azure:ConnectionString, or Registry:Azure:BlobServiceUri (https://<account>.blob.core.windows.net) to use DefaultAzureCredential.");
            }

            if (!System.Text.RegularExpressions.Regex.IsMatch(options.Azure.Container, "^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,40}$"))
            {
                failures.Add($"Registry:Azure:Container '{options.Azure.Container}' is not a valid container name: use 3-41 lowercase letters, digits and single hyphens.");
            }

            if (options.Cluster.AdvertisedAddress is { Length: > 0 } address && !System.Net.IPAddress.TryParse(address, out _))
            {
                failures.Add($"Registry:Cluster:AdvertisedAddress '{address}' is not an IP address: set it to the pod IP (downward API status.podIP).");
            }

            if (string.IsNullOrWhiteSpace(options.Cluster.ClusterId) || string.IsNullOrWhiteSpace(options.Cluster.ServiceId))
            {
                failures.Add("Registry:Cluster:ClusterId and Registry:Cluster:ServiceId must not be empty.");
            }
        }

        if (options.Cluster.GatewayPort is < 0 or > 65535)
        {
            failures.Add($"Registry:Cluster:GatewayPort {options.Cluster.GatewayPort} is not a port: use 0 (none) or 1-65535.");
        }

        if (options.Cluster.SiloPort is < 0 or > 65535)
        {
            failures.Add($"Registry:Cluster:SiloPort {options.Cluster.SiloPort} is not a port: use 0 (the mode's default) or 1-65535.");
        }

        if (options.Limits.MaxManifestBytes < 4096)
        {
            failures.Add($"Registry:Limits:MaxManifestBytes {options.Limits.MaxManifestBytes} is too small: use at least 4096 (the default is 4194304).");
        }

        if (options.Limits.MaxPageSize < 1)
        {
            failures.Add($"Registry:Limits:MaxPageSize {options.Limits.MaxPageSize} must be at least 1 (the default is 10000).");
        }

        if (options.Uploads.Expiry <= TimeSpan.Zero || options.Uploads.SweepInterval <= TimeSpan.Zero)
        {
            failures.Add("Registry:Uploads:Expiry and Registry:Uploads:SweepInterval must be positive durations such as 24:00:00.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
