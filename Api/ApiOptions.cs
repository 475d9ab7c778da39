using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Registry.Api;

/// <summary>The HTTP host's own settings in the <c>Registry</c> section; the silo binds the rest (<see cref="Registry.Silo.RegistryOptions"/>).</summary>
public sealed class ApiOptions : IValidatableObject
{
    /// <summary>The URL the HTTP API listens on. Loopback only unless set otherwise.</summary>
    public string Listen { get; set; } = "http://127.0.0.1:5000";

    public LimitOptions Limits { get; set; } = new();

    /// <summary>Retention's settings (docs/retention.md).</summary>
    public Lifecycle.RetentionOptions Retention { get; set; } = new();

    /// <summary>
    /// Whether the registry's executable pushes and pulls a small image through a throwaway
    /// registry in its process before it starts listening (<see cref="StartupWarmUp"/>), so that
    /// its first requests are as fast as later ones. Costs about a second of start-up time.
    /// </summary>
    public bool WarmUp { get; set; } = true;

    /// <summary><see cref="Listen"/> as a URI (see <see cref="ParseListen"/>).</summary>
    public Uri? ListenUri => ParseListen(Listen);

    /// <summary>A Kestrel listen address as a URI, its wildcard hosts (<c>*</c>, <c>+</c>) read as 0.0.0.0; null when it is not http(s).</summary>
    public static Uri? ParseListen(string address)
        => Uri.TryCreate(address.Replace("*", "0.0.0.0", StringComparison.Ordinal).Replace("+", "0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? uri : null;

    /// <summary>The smallest read budget: one large window and one small one.</summary>
    public const long MinReadBufferBytes = 8 * 1024 * 1024;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (ListenUri is null)
        {
            yield return new ValidationResult($"Registry:Listen '{Listen}' is not an http(s) URL: use e.g. http://127.0.0.1:5000.");
        }

        if (Limits.MaxManifestBytes < 4096)
        {
            yield return new ValidationResult($"Registry:Limits:MaxManifestBytes {Limits.MaxManifestBytes} is too small: use at least 4096 (the default is 4194304).");
        }

        if (Limits.MaxPageSize < 1)
        {
            yield return new ValidationResult($"Registry:Limits:MaxPageSize {Limits.MaxPageSize} must be at least 1 (the default is 10000).");
        }

        if (Limits.ManifestCacheBytes < 0)
        {
            yield return new ValidationResult($"Registry:Limits:ManifestCacheBytes {Limits.ManifestCacheBytes} must not be negative (0 turns the cache off).");
        }

        foreach (var failure in Retention.Validate())
        {
            yield return new ValidationResult(failure);
        }

        if (Limits.ReadBufferBytes < MinReadBufferBytes)
        {
            yield return new ValidationResult($"Registry:Limits:ReadBufferBytes {Limits.ReadBufferBytes} is too small: use at least {MinReadBufferBytes} (the default is 16777216).");
        }
    }
}

public sealed class LimitOptions
{
    /// <summary>The largest manifest body accepted; larger bodies get 413.</summary>
    public int MaxManifestBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>The most names one tags-list or catalog page returns; larger <c>n</c> is clamped.</summary>
    public int MaxPageSize { get; set; } = 10_000;

    /// <summary>Memory for manifest bytes kept by the API host (content-addressed, so never stale).</summary>
    public long ManifestCacheBytes { get; set; } = 32 * 1024 * 1024;

    /// <summary>
    /// Blob bytes that GET responses hold unsent at once, all responses together (the windows of
    /// <see cref="Services.ReadWindowBudget"/>); beyond it a response sends 64 KiB at a time.
    /// </summary>
    public long ReadBufferBytes { get; set; } = 16 * 1024 * 1024;
}

[OptionsValidator]
public sealed partial class ApiOptionsValidator : IValidateOptions<ApiOptions>;
