using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Registry.Grains;

namespace Registry.Silo;

/// <summary>
/// Refuses a <c>Registry</c> section with keys nothing reads or values that cannot be read: the
/// configuration binder skips both silently (a list item it cannot read, such as a webhook
/// endpoint with <c>Timeout=abc</c>, is dropped whole), so a typo would change what runs.
/// </summary>
public static class RegistrySettings
{
    /// <summary>Settings the silo reads, by their path under <c>Registry</c>.</summary>
    private static readonly (string Path, Type Shape)[] SiloSections =
    [
        ("Azure", typeof(AzureStorageOptions)),
        ("Cluster", typeof(SiloOptions)),
        ("Uploads", typeof(UploadOptions)),
        ("GarbageCollection", typeof(GarbageCollectionOptions)),
        ("Repositories", typeof(RepositoryGrainOptions)),
        ("Events:Outbox", typeof(EventOutboxOptions)),
        ("Events:Log", typeof(EventLogOptions)),
    ];

    private static readonly string[] SiloValues = ["Mode", "DataDirectory"];

    /// <summary>
    /// What the HTTP host reads: known here too, because one ConfigMap serves API replicas and
    /// headless silos alike; the HTTP host checks their values (<see cref="Verify"/> with its sections).
    /// </summary>
    private static readonly string[] HostKeys = ["Listen", "WarmUp", "Limits", "Audit", "Events:Watch", "Access", "ImageApi", "Retention"];

    /// <summary>Throws <see cref="OptionsValidationException"/> naming every unknown key and unreadable value of the silo's settings.</summary>
    public static void VerifySilo(IConfiguration configuration)
    {
        var failures = new List<string>();
        var registry = configuration.GetSection(RegistryOptions.Section);
        var known = SiloSections.Select(s => s.Path).Concat(SiloValues).Concat(HostKeys).Append("Webhooks").ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var child in registry.GetChildren())
        {
            if (child.Key.Equals("Events", StringComparison.OrdinalIgnoreCase))
            {
                failures.AddRange(child.GetChildren().Where(e => !known.Contains($"Events:{e.Key}")).Select(e => Unknown(e.Path)));
            }
            else if (!known.Contains(child.Key))
            {
                failures.Add(Unknown(child.Path));
            }
        }

        foreach (var (path, shape) in SiloSections)
        {
            Readable(registry.GetSection(path), shape, failures);
        }

        VerifyWebhooks(configuration.GetSection(WebhookOptions.Section), failures);
        Throw(failures);
    }

    /// <summary>Checks the values of sections another host reads (the HTTP host's own).</summary>
    public static void Verify(IConfiguration configuration, params (string Path, Type Shape)[] sections)
    {
        var failures = new List<string>();
        foreach (var (path, shape) in sections)
        {
            Readable(configuration.GetSection($"{RegistryOptions.Section}:{path}"), shape, failures);
        }

        Throw(failures);
    }

    /// <summary>Each endpoint on its own: the binder drops a list item it cannot read without a word.</summary>
    private static void VerifyWebhooks(IConfigurationSection webhooks, List<string> failures)
    {
        foreach (var child in webhooks.GetChildren().Where(c => !c.Key.Equals("Endpoints", StringComparison.OrdinalIgnoreCase) && !c.Key.Equals("Purge", StringComparison.OrdinalIgnoreCase)))
        {
            failures.Add(Unknown(child.Path));
        }

        var purge = webhooks.GetSection("Purge");
        if (purge.Value is not null || purge.GetChildren().Any(c => !int.TryParse(c.Key, out _) || c.Value is null))
        {
            failures.Add($"{purge.Path} is a list of endpoint names: set Purge:0, Purge:1, ….");
        }

        foreach (var endpoint in webhooks.GetSection("Endpoints").GetChildren())
        {
            if (!int.TryParse(endpoint.Key, out _))
            {
                failures.Add($"{endpoint.Path} is not a list item: number the endpoints Endpoints:0, Endpoints:1, ….");
                continue;
            }

            if (Readable(endpoint, typeof(WebhookEndpointOptions), failures) is WebhookEndpointOptions options)
            {
                foreach (var (action, i) in options.IgnoredActions.Select((a, i) => (a, i)))
                {
                    if (!KnownActions.Contains(action, StringComparer.OrdinalIgnoreCase))
                    {
                        failures.Add($"{endpoint.Path}:IgnoredActions:{i} '{action}' is not an action: use {string.Join(", ", KnownActions)}.");
                    }
                }
            }
        }
    }

    private static readonly string[] KnownActions = [RegistryEvent.Push, RegistryEvent.Pull, RegistryEvent.Mount, RegistryEvent.Delete];

    /// <summary>Binds a section strictly: an unknown key or a value of the wrong type is a failure.</summary>
    private static object? Readable(IConfigurationSection section, Type shape, List<string> failures)
    {
        try
        {
            return section.Get(shape, o => o.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException e)
        {
            failures.Add($"{section.Path}: {e.Message} Fix or remove the setting.");
            return null;
        }
    }

    private static string Unknown(string path) => $"{path} is not a setting of the registry: check its spelling (docs: README's configuration table).";

    private static void Throw(List<string> failures)
    {
        if (failures.Count > 0)
        {
            throw new OptionsValidationException(RegistryOptions.Section, typeof(RegistryOptions), failures);
        }
    }
}
