using System.ComponentModel.DataAnnotations;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Registry.Storage;

namespace Registry.Silo;

/// <summary>
/// What a silo of the registry needs from the <c>Registry</c> configuration section (environment:
/// <c>Registry__Name</c>); the HTTP host binds its own settings from the same section.
/// </summary>
public sealed partial class RegistryOptions : IValidatableObject
{
    public const string Section = "Registry";

    /// <summary>Embedded: one process, filesystem. Cluster: many replicas sharing Azure Storage.</summary>
    public RegistryMode Mode { get; set; } = RegistryMode.Embedded;

    /// <summary>Where blobs, uploads and grain state live. Relative paths are taken from the working directory.</summary>
    public string DataDirectory { get; set; } = "data";

    public AzureStorageOptions Azure { get; set; } = new();

    /// <summary>The <c>Registry:Cluster</c> section: how silos find each other.</summary>
    public SiloOptions Cluster { get; set; } = new();

    public UploadOptions Uploads { get; set; } = new();

    /// <summary>The <c>Registry:GarbageCollection</c> section (docs/garbage-collection.md).</summary>
    public GarbageCollectionOptions GarbageCollection { get; set; } = new();

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (string.IsNullOrWhiteSpace(DataDirectory))
        {
            yield return new ValidationResult("Registry:DataDirectory is empty: set it to a writable directory, e.g. Registry__DataDirectory=/var/lib/registry.");
        }

        if (Cluster.SiloPort is < 0 or > 65535)
        {
            yield return new ValidationResult($"Registry:Cluster:SiloPort {Cluster.SiloPort} is not a port: use 0 (the mode's default) or 1-65535.");
        }

        if (Cluster.GatewayPort is < 0 or > 65535)
        {
            yield return new ValidationResult($"Registry:Cluster:GatewayPort {Cluster.GatewayPort} is not a port: use 0 (none) or 1-65535.");
        }

        if (Cluster.FailoverRetryBudget < TimeSpan.Zero || Cluster.FailoverRetryBudget > TimeSpan.FromMinutes(1))
        {
            yield return new ValidationResult($"Registry:Cluster:FailoverRetryBudget {Cluster.FailoverRetryBudget} is out of range: use 00:00:00 (no retries) up to 00:01:00; the default 00:00:15 covers a replica's death declaration.");
        }

        if (Cluster.ProbeTimeout < TimeSpan.FromMilliseconds(500) || Cluster.ProbeTimeout > TimeSpan.FromMinutes(1))
        {
            yield return new ValidationResult($"Registry:Cluster:ProbeTimeout {Cluster.ProbeTimeout} is out of range: use 00:00:00.5 up to 00:01:00 (default 00:00:02).");
        }

        if (Cluster.MissedProbesLimit is < 1 or > 10)
        {
            yield return new ValidationResult($"Registry:Cluster:MissedProbesLimit {Cluster.MissedProbesLimit} is out of range: use 1-10 (default 3).");
        }

        if (Uploads.Expiry <= TimeSpan.Zero)
        {
            yield return new ValidationResult($"Registry:Uploads:Expiry {Uploads.Expiry} must be a positive duration such as 24:00:00.");
        }

        if (Uploads.SweepInterval < TimeSpan.FromMinutes(1))
        {
            yield return new ValidationResult($"Registry:Uploads:SweepInterval {Uploads.SweepInterval} is too short: use at least 00:01:00 (a reminder's shortest period), such as 01:00:00.");
        }

        if (Uploads.CacheHandOffMaxBlobBytes < 0)
        {
            yield return new ValidationResult($"Registry:Uploads:CacheHandOffMaxBlobBytes {Uploads.CacheHandOffMaxBlobBytes} is negative: use 0 (no hand-off to the page cache) or a size in bytes (the default is {PageCacheHandOff.Default.MaxBlobBytes}).");
        }
        else if (Uploads.CacheHandOffMaxPendingBytes < Uploads.CacheHandOffMaxBlobBytes)
        {
            yield return new ValidationResult($"Registry:Uploads:CacheHandOffMaxPendingBytes {Uploads.CacheHandOffMaxPendingBytes} is smaller than Registry:Uploads:CacheHandOffMaxBlobBytes {Uploads.CacheHandOffMaxBlobBytes}, so the largest blobs allowed could never be handed to the page cache: use at least {Uploads.CacheHandOffMaxBlobBytes} (the default is {PageCacheHandOff.Default.MaxPendingBytes}), or set both to 0 to turn the hand-off off.");
        }

        if (GarbageCollection.GracePeriod < Uploads.Expiry)
        {
            yield return new ValidationResult($"Registry:GarbageCollection:GracePeriod {GarbageCollection.GracePeriod} is shorter than Registry:Uploads:Expiry {Uploads.Expiry}: an unreferenced blob must outlive any upload that may still name it; set it to at least the expiry (default 48:00:00).");
        }

        if (GarbageCollection.Interval != TimeSpan.Zero && GarbageCollection.Interval < TimeSpan.FromMinutes(1))
        {
            yield return new ValidationResult($"Registry:GarbageCollection:Interval {GarbageCollection.Interval} is too short: use 00:00:00 (on demand only) or at least 00:01:00 (a reminder's shortest period), such as 1.00:00:00.");
        }

        if (!(GarbageCollection.DutyCycle > 0 && GarbageCollection.DutyCycle <= 1))
        {
            yield return new ValidationResult(FormattableString.Invariant($"Registry:GarbageCollection:DutyCycle {GarbageCollection.DutyCycle} is out of range: it is the share of time a collection works (it pauses the rest, leaving the CPU to pushes and pulls); use a number above 0 up to 1, such as {GarbageCollectionOptions.DefaultDutyCycle} (the default) or 1 (never pause)."));
        }

        if (Mode != RegistryMode.Cluster)
        {
            yield break;
        }

        if (string.IsNullOrWhiteSpace(Azure.ConnectionString) && Azure.BlobServiceUri is null)
        {
            yield return new ValidationResult("Registry:Mode is Cluster but no Azure Storage is configured: set Registry:Azure:ConnectionString, or Registry:Azure:BlobServiceUri (https://<account>.blob.core.windows.net) to use DefaultAzureCredential.");
        }

        if (!ContainerName().IsMatch(Azure.Container))
        {
            yield return new ValidationResult($"Registry:Azure:Container '{Azure.Container}' is not a valid container name: use 3-41 lowercase letters, digits and single hyphens.");
        }

        if (Cluster.AdvertisedAddress is { Length: > 0 } address && !IPAddress.TryParse(address, out _))
        {
            yield return new ValidationResult($"Registry:Cluster:AdvertisedAddress '{address}' is not an IP address: set it to the pod IP (downward API status.podIP).");
        }

        if (string.IsNullOrWhiteSpace(Cluster.ClusterId) || string.IsNullOrWhiteSpace(Cluster.ServiceId))
        {
            yield return new ValidationResult("Registry:Cluster:ClusterId and Registry:Cluster:ServiceId must not be empty.");
        }
    }

    /// <summary>Leaves room for the <c>-grains-events-N</c> suffixes of the derived containers and queues.</summary>
    [GeneratedRegex("^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,40}$")]
    private static partial Regex ContainerName();
}

public enum RegistryMode
{
    Embedded,
    Cluster,
}

/// <summary>Azure Storage of cluster mode: a connection string, or service URIs with DefaultAzureCredential.</summary>
public sealed class AzureStorageOptions
{
    public string? ConnectionString { get; set; }

    public Uri? BlobServiceUri { get; set; }

    /// <summary>Defaults to the blob URI with <c>.blob.</c> replaced by <c>.table.</c>.</summary>
    public Uri? TableServiceUri { get; set; }

    /// <summary>Defaults to the blob URI with <c>.blob.</c> replaced by <c>.queue.</c>.</summary>
    public Uri? QueueServiceUri { get; set; }

    /// <summary>The container for blob bytes; grain state goes to <c>{Container}-grains</c>.</summary>
    public string Container { get; set; } = "registry";

    public string StateContainer => Container + "-grains";
}

/// <summary>The <c>Registry:Cluster</c> section (named apart from Orleans' own <c>ClusterOptions</c>).</summary>
public sealed class SiloOptions
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

    /// <summary>
    /// How long a grain call that failed because its silo died is retried (only calls safe to
    /// retry) before the request gets 503: long enough for the cluster to declare a killed replica
    /// dead (<see cref="ProbeTimeout"/> × <see cref="MissedProbesLimit"/> and a vote). 0 disables.
    /// </summary>
    public TimeSpan FailoverRetryBudget { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How often a silo probes each other and how long a probe may take (Orleans' ProbeTimeout).</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Missed probes after which a silo votes another dead (Orleans' NumMissedProbesLimit).</summary>
    public int MissedProbesLimit { get; set; } = 3;

    /// <summary>
    /// Whether the silo takes its identity from its Kubernetes pod and watches the pods of its
    /// cluster (Microsoft.Orleans.Hosting.Kubernetes). Unset: on in cluster mode when the pod's
    /// downward-API variables POD_NAME and POD_NAMESPACE and the API's KUBERNETES_SERVICE_HOST are set.
    /// </summary>
    public bool? Kubernetes { get; set; }
}

public sealed class UploadOptions
{
    /// <summary>An upload session not finished within this time is deleted with its staged bytes.</summary>
    public TimeSpan Expiry { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How often expired upload sessions are looked for, once per cluster (at least every minute: an Orleans reminder).</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Embedded mode: how uploaded bytes reach the disk. Direct writes around the page cache and
    /// then hands each committed blob to it off the request path; Cached writes through it
    /// (docs/storage-layout.md). Both are durable and leave a blob just pushed cached.
    /// </summary>
    public UploadWriteMode WriteMode { get; set; } = UploadWriteMode.Direct;

    /// <summary>Direct mode: blobs up to this size are read into the page cache after their commit; 0 turns that off.</summary>
    public long CacheHandOffMaxBlobBytes { get; set; } = PageCacheHandOff.Default.MaxBlobBytes;

    /// <summary>Direct mode: at most this many committed bytes wait to be read into the page cache; a commit beyond it is left to the disk.</summary>
    public long CacheHandOffMaxPendingBytes { get; set; } = PageCacheHandOff.Default.MaxPendingBytes;

    /// <summary>The hand-off bounds as the filesystem driver takes them.</summary>
    public PageCacheHandOff ToCacheHandOff() => new(CacheHandOffMaxBlobBytes, CacheHandOffMaxPendingBytes);
}

public sealed class GarbageCollectionOptions
{
    /// <summary>An unreferenced blob younger than this is never collected; at least <see cref="UploadOptions.Expiry"/>.</summary>
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromHours(48);

    /// <summary>How often a collection runs, once per cluster; zero runs it only on demand.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Collections delete untagged manifests pushed before the grace period that no kept manifest names (off by default).</summary>
    public bool RemoveUntagged { get; set; }

    /// <summary>Collections unlink repository blob links no manifest names and unused for the grace period (off by default).</summary>
    public bool RemoveUnusedLinks { get; set; }

    /// <summary>
    /// The share of a collection's time spent working, above 0 up to 1: it pauses the rest, so a
    /// collection (background work) leaves the CPU to pushes and pulls; 1 never pauses.
    /// </summary>
    public double DutyCycle { get; set; } = DefaultDutyCycle;

    public const double DefaultDutyCycle = 0.2;
}

/// <summary>Validates <see cref="RegistryOptions"/> with the code the options source generator writes (it calls <see cref="RegistryOptions.Validate"/>).</summary>
[OptionsValidator]
public sealed partial class RegistryOptionsValidator : IValidateOptions<RegistryOptions>;
