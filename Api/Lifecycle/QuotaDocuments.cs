using System.Globalization;
using System.Text.Json.Serialization;
using Registry.Api.Access;
using Registry.Grains;

namespace Registry.Api.Lifecycle;

/// <summary>Limits or usage figures: <c>storage</c> in bytes, <c>repositories</c> a count; an absent limit is no limit.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record QuotaFigures(long? Storage = null, long? Repositories = null, long? Digests = null);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record QuotaSpec(QuotaFigures? Hard);

/// <summary>What the quota allows (<c>hard</c>, absent without a quota) and what the namespace uses.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record QuotaStatus(QuotaFigures? Hard, QuotaFigures? Used);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record QuotaMeta(string? Name = null, string? Namespace = null, string? ResourceVersion = null, string? CreationTimestamp = null);

/// <summary>A namespace's quota, in the shape of a Kubernetes <c>ResourceQuota</c>.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record NamespaceQuotaDocument(string? ApiVersion, string? Kind, QuotaMeta? Metadata, QuotaSpec? Spec, QuotaStatus? Status);

/// <summary>A recount's answer: the usage tracked before it and the usage it counted (and kept).</summary>
public sealed record QuotaRecountDocument(string ApiVersion, string Kind, QuotaMeta Metadata, QuotaFigures Tracked, QuotaFigures Counted);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(NamespaceQuotaDocument))]
[JsonSerializable(typeof(QuotaRecountDocument))]
internal sealed partial class QuotaJsonContext : JsonSerializerContext;

/// <summary>Between a namespace's quota and its documents: rendering, and validating what a client sends.</summary>
public static class QuotaDocuments
{
    public const string Kind = "NamespaceQuota";

    /// <summary>The one quota of a namespace is named so (as Kubernetes objects are named).</summary>
    public const string Name = "quota";

    /// <summary>The largest storage limit accepted: 1 EiB, far past any store, and far from overflowing a sum.</summary>
    public const long MaxStorageBytes = 1L << 60;

    /// <summary>The largest repository-count limit accepted.</summary>
    public const int MaxRepositories = 1_000_000;

    public static NamespaceQuotaDocument Render(string ns, NamespaceQuota quota) => new(
        PolicyDocuments.ApiVersion,
        Kind,
        new QuotaMeta(Name, ns, quota.Version.ToString(CultureInfo.InvariantCulture), quota.Created is null ? null : PolicyDocuments.Timestamp(quota.Created)),
        quota.Limits is { } limits ? new QuotaSpec(Figures(limits)) : null,
        new QuotaStatus(quota.Limits is { } hard ? Figures(hard) : null, Figures(quota.Used)));

    public static QuotaRecountDocument Render(string ns, UsageRecount recount)
        => new(PolicyDocuments.ApiVersion, "NamespaceUsageRecount", new QuotaMeta(Name, ns), Figures(recount.Tracked), Figures(recount.Counted));

    /// <summary>The limits a document sets and the resourceVersion it expects (null: any), or the Status that says what is wrong.</summary>
    public static (QuotaLimits? Limits, long? Version, Kube.KubeStatus? Error) Validate(NamespaceQuotaDocument? document, string ns)
    {
        if (document is null || document.Kind is not (null or Kind) || document.ApiVersion is not (null or PolicyDocuments.ApiVersion))
        {
            return (null, null, Kube.KubeStatus.BadRequest($"expected apiVersion {PolicyDocuments.ApiVersion} and kind {Kind}"));
        }

        var meta = document.Metadata;
        if (meta?.Name is { } name && name != Name)
        {
            return (null, null, Kube.KubeStatus.Invalid($"metadata.name '{name}' must be '{Name}': a namespace has one quota"));
        }

        if (meta?.Namespace is { } other && other != ns)
        {
            return (null, null, Kube.KubeStatus.BadRequest($"metadata.namespace '{other}' does not match the namespace of the URL '{ns}'"));
        }

        long? version = null;
        if (!string.IsNullOrEmpty(meta?.ResourceVersion))
        {
            if (!long.TryParse(meta.ResourceVersion, NumberStyles.None, CultureInfo.InvariantCulture, out var v))
            {
                return (null, null, Kube.KubeStatus.BadRequest($"metadata.resourceVersion '{meta.ResourceVersion}' is not one this registry gave"));
            }

            version = v;
        }

        if (document.Spec?.Hard is not { } hard)
        {
            return (null, null, Kube.KubeStatus.Invalid("spec.hard is required: {\"storage\": <bytes>, \"repositories\": <count>}, either may be left out"));
        }

        if (hard.Digests is not null)
        {
            return (null, null, Kube.KubeStatus.Invalid("spec.hard.digests is not a limit: only storage and repositories are"));
        }

        if (hard.Storage is < 0 or > MaxStorageBytes)
        {
            return (null, null, Kube.KubeStatus.Invalid($"spec.hard.storage must be between 0 and {MaxStorageBytes} bytes"));
        }

        if (hard.Repositories is < 0 or > MaxRepositories)
        {
            return (null, null, Kube.KubeStatus.Invalid($"spec.hard.repositories must be between 0 and {MaxRepositories}"));
        }

        return (new QuotaLimits(hard.Storage, (int?)hard.Repositories), version, null);
    }

    private static QuotaFigures Figures(QuotaLimits limits) => new(limits.StorageBytes, limits.Repositories);

    private static QuotaFigures Figures(NamespaceUsage usage) => new(usage.StorageBytes, usage.Repositories, usage.Digests);
}
