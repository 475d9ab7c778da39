using Microsoft.Extensions.Options;

namespace Registry.Api;

/// <summary>The <c>Registry</c> configuration section (environment: <c>Registry__Name</c>).</summary>
public sealed class RegistryOptions
{
    public const string Section = "Registry";

    /// <summary>Where blobs, uploads and grain state live. Relative paths are taken from the working directory.</summary>
    public string DataDirectory { get; set; } = "data";

    /// <summary>The URL the HTTP API listens on. Loopback only unless set otherwise.</summary>
    public string Listen { get; set; } = "http://127.0.0.1:5000";

    /// <summary>The silo-to-silo port; 0 picks a free port (embedded mode has no other silo).</summary>
    public int SiloPort { get; set; }

    public LimitOptions Limits { get; set; } = new();

    public UploadOptions Uploads { get; set; } = new();
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

        if (options.SiloPort is < 0 or > 65535)
        {
            failures.Add($"Registry:SiloPort {options.SiloPort} is not a port: use 0 (any free port) or 1-65535.");
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
