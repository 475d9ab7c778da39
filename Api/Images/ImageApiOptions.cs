using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Registry.Api.Images;

/// <summary>The image API (<c>/apis/image.openshift.io/v1</c>), section <c>Registry:ImageApi</c>.</summary>
public sealed partial class ImageApiOptions : IValidatableObject
{
    public const string Section = "Registry:ImageApi";

    /// <summary>
    /// The host (and port) pods pull from, for <c>status.dockerImageRepository</c> and every
    /// <c>dockerImageReference</c>; empty: the Host of each request.
    /// </summary>
    public string InternalRegistryHostname { get; set; } = "";

    /// <summary>The host (and port) users outside the cluster pull from, for <c>status.publicDockerImageRepository</c>; empty: not shown.</summary>
    public string PublicRegistryHostname { get; set; } = "";

    /// <summary>The largest image config read for <c>dockerImageMetadata</c>; a larger config is not read (no metadata).</summary>
    public int MaxConfigBytes { get; set; } = 1024 * 1024;

    /// <summary>The largest request body of a change (an ImageStreamTag create or update); a larger one is refused with 413.</summary>
    public int MaxRequestBytes { get; set; } = 64 * 1024;

    /// <summary>How often a watch that asked for them (<c>allowWatchBookmarks=true</c>) gets a BOOKMARK event with its current resourceVersion.</summary>
    public TimeSpan WatchBookmarkInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Whether an image's facts are computed right after its push (false: on first read only).</summary>
    public bool FactsAtPush { get; set; } = true;

    /// <summary>How many pushed or deleted manifests wait for the work at push; beyond it the facts are left to the first read.</summary>
    public int FactsQueueCapacity { get; set; } = 1024;

    /// <summary>How many manifests' work at push runs at once.</summary>
    public int FactsWorkers { get; set; } = 2;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (name, value) in new[] { (nameof(InternalRegistryHostname), InternalRegistryHostname), (nameof(PublicRegistryHostname), PublicRegistryHostname) })
        {
            if (value.Length > 0 && !HostRegex().IsMatch(value))
            {
                yield return new ValidationResult($"{Section}:{name} '{value}' is not a host name with an optional port: use e.g. registry.internal:5000 (no scheme, no path), or leave it empty.");
            }
        }

        if (WatchBookmarkInterval < TimeSpan.FromMilliseconds(100) || WatchBookmarkInterval > TimeSpan.FromHours(1))
        {
            yield return new ValidationResult($"{Section}:WatchBookmarkInterval {WatchBookmarkInterval} must be between 00:00:00.1 and 01:00:00 (the default is 00:00:30).");
        }

        if (MaxConfigBytes is < 4096 or > 64 * 1024 * 1024)
        {
            yield return new ValidationResult($"{Section}:MaxConfigBytes {MaxConfigBytes} must be between 4096 and 67108864 (the default is 1048576).");
        }

        if (FactsQueueCapacity is < 1 or > 65536)
        {
            yield return new ValidationResult($"{Section}:FactsQueueCapacity {FactsQueueCapacity} must be between 1 and 65536 (the default is 1024).");
        }

        if (FactsWorkers is < 1 or > 16)
        {
            yield return new ValidationResult($"{Section}:FactsWorkers {FactsWorkers} must be between 1 and 16 (the default is 2).");
        }

        if (MaxRequestBytes is < 1024 or > 1024 * 1024)
        {
            yield return new ValidationResult($"{Section}:MaxRequestBytes {MaxRequestBytes} must be between 1024 and 1048576 (the default is 65536).");
        }
    }

    [GeneratedRegex(@"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?\z", RegexOptions.CultureInvariant)]
    private static partial Regex HostRegex();
}

[OptionsValidator]
public sealed partial class ImageApiOptionsValidator : IValidateOptions<ImageApiOptions>;
