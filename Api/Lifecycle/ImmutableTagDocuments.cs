using System.Globalization;
using System.Text.Json.Serialization;
using Registry.Api.Access;
using Registry.Api.Kube;
using Registry.Grains;

namespace Registry.Api.Lifecycle;

/// <summary>One rule as JSON: <c>repositories</c> defaults to <c>**</c> (every repository of the scope).</summary>
public sealed record ImmutableTagRuleDocument(string? Name, string? Repositories, string? Tags);

/// <summary>The <c>ImmutableTagRules</c> resource of a scope: all its rules, replaced as a whole.</summary>
public sealed record ImmutableTagRulesDocument(string? ApiVersion, string? Kind, ObjectMeta? Metadata, List<ImmutableTagRuleDocument>? Rules);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ImmutableTagRulesDocument))]
internal sealed partial class ImmutableTagJsonContext : JsonSerializerContext;

/// <summary>Between stored rules and their document: rendering, and validating what a client sends.</summary>
public static partial class ImmutableTagDocuments
{
    public const string Kind = "ImmutableTagRules";

    /// <summary>The resource's one name: a scope has one set of rules.</summary>
    public const string Name = "immutabletagrules";

    public static ImmutableTagRulesDocument Render(ImmutableTagRules rules, string? ns) => new(
        PolicyDocuments.ApiVersion,
        Kind,
        new ObjectMeta(Name, ns, rules.ResourceVersion > 0 ? rules.ResourceVersion.ToString(CultureInfo.InvariantCulture) : null, rules.ChangedAt is null ? null : PolicyDocuments.Timestamp(rules.ChangedAt)),
        [.. rules.Rules.Select(r => new ImmutableTagRuleDocument(r.Name, r.Repositories, r.Tags))]);

    /// <summary>The rules a document describes and the resourceVersion it was read at (0: none), or the Status that says what is wrong.</summary>
    public static (IReadOnlyList<ImmutableTagRule>? Rules, long Version, KubeStatus? Error) Validate(ImmutableTagRulesDocument? document, string? ns)
    {
        if (document is null)
        {
            return Invalid(KubeStatus.BadRequest($"the body must be an {Kind} object"));
        }

        if (document.ApiVersion is not (null or PolicyDocuments.ApiVersion) || document.Kind is not (null or Kind))
        {
            return Invalid(KubeStatus.BadRequest($"expected apiVersion {PolicyDocuments.ApiVersion} and kind {Kind}, got {document.ApiVersion} {document.Kind}"));
        }

        var meta = document.Metadata ?? new ObjectMeta();
        if (meta.Namespace is not null && meta.Namespace != ns)
        {
            return Invalid(KubeStatus.BadRequest(ns is null ? "the registry's rules have no metadata.namespace" : $"metadata.namespace '{meta.Namespace}' does not match the namespace in the URL '{ns}'"));
        }

        if (PolicyDocuments.ParseVersion(meta.ResourceVersion) is not { } version)
        {
            return Invalid(KubeStatus.BadRequest($"metadata.resourceVersion '{meta.ResourceVersion}' is not one this registry gave"));
        }

        var documents = document.Rules ?? [];
        if (documents.Count > ImmutableTagRule.MaxRules)
        {
            return Invalid(KubeStatus.Invalid($"rules holds {documents.Count} rules; a scope holds at most {ImmutableTagRule.MaxRules}"));
        }

        var rules = new List<ImmutableTagRule>(documents.Count);
        foreach (var (rule, index) in documents.Select((r, i) => (r, i)))
        {
            var name = rule?.Name ?? "";
            if (!PolicyNames.IsObjectName(name) || name.Length > ImmutableTagRule.MaxLength)
            {
                return Invalid(KubeStatus.Invalid($"rules[{index}].name '{Shorten(name)}' must be a lowercase DNS-1123 name (a-z, 0-9, '-', '.') of at most {ImmutableTagRule.MaxLength} characters"));
            }

            if (rules.Exists(r => r.Name == name))
            {
                return Invalid(KubeStatus.Invalid($"rules[{index}].name '{name}' is used by another rule"));
            }

            var repositories = rule!.Repositories ?? "**";
            if (!Glob.IsValid(repositories))
            {
                return Invalid(KubeStatus.Invalid($"rules[{index}].repositories '{Shorten(repositories)}' must be a glob of 1 to {ImmutableTagRule.MaxLength} characters: letters, digits, '.', '_', '-', '/' and the wildcards '*', '**' and '?'"));
            }

            if (rule.Tags is not { } tags || !Glob.IsValid(tags) || tags.Contains('/'))
            {
                return Invalid(KubeStatus.Invalid($"rules[{index}].tags '{Shorten(rule.Tags ?? "")}' must be a glob of 1 to {ImmutableTagRule.MaxLength} characters: letters, digits, '.', '_', '-' and the wildcards '*' and '?'"));
            }

            rules.Add(new ImmutableTagRule(name, repositories, tags));
        }

        return (rules, version, null);
    }

    private static string Shorten(string text) => text.Length > 140 ? text[..140] + "…" : text;

    private static (IReadOnlyList<ImmutableTagRule>?, long, KubeStatus?) Invalid(KubeStatus error) => (null, 0, error);
}
