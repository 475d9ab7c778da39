using System.Globalization;
using System.Text.Json.Serialization;
using Registry.Api.Kube;
using Registry.Grains;

namespace Registry.Api.Access;

/// <summary>Kubernetes <c>ObjectMeta</c>, the fields the policy API uses.</summary>
/// <summary>The metadata of the access resources (users, robots, namespaces, bindings).</summary>
public sealed record ObjectMeta(string? Name = null, string? Namespace = null, string? ResourceVersion = null, string? CreationTimestamp = null);

public sealed record SubjectDocument(string? Kind, string? Name, string? Namespace = null, string? ApiGroup = null);

public sealed record RoleRefDocument(string? Kind, string? Name, string? ApiGroup = null);

/// <summary>
/// A <c>RoleBinding</c> (in a namespace; <c>repository</c>, when set, narrows it to that
/// repository of the namespace) or a <c>ClusterRoleBinding</c> (registry scope).
/// </summary>
public sealed record RoleBindingDocument(string? ApiVersion, string? Kind, ObjectMeta? Metadata, string? Repository, List<SubjectDocument>? Subjects, RoleRefDocument? RoleRef);

public sealed record NamespaceDocument(string? ApiVersion, string? Kind, ObjectMeta? Metadata);

/// <summary>A list's metadata; <c>continue</c> is set when there is a next page.</summary>
public sealed record ListMeta(string? ResourceVersion = null, [property: JsonPropertyName("continue")] string? Continue = null);

public sealed record RoleBindingListDocument(string ApiVersion, string Kind, ListMeta Metadata, List<RoleBindingDocument> Items);

public sealed record NamespaceListDocument(string ApiVersion, string Kind, ListMeta Metadata, List<NamespaceDocument> Items);

/// <summary>The policy API's JSON, generated at compile time; absent values are left out.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RoleBindingDocument))]
[JsonSerializable(typeof(NamespaceDocument))]
[JsonSerializable(typeof(RoleBindingListDocument))]
[JsonSerializable(typeof(NamespaceListDocument))]
internal sealed partial class PolicyJsonContext : JsonSerializerContext;

/// <summary>Between stored policy and its documents: rendering, and validating what a client sends.</summary>
public static class PolicyDocuments
{
    public const string ApiVersion = "registry/v1";
    public const int MaxSubjects = 100;

    public static string Timestamp(DateTimeOffset? time) => time?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture) ?? "";

    public static RoleBindingDocument Render(RoleBinding binding, string? ns) => new(
        ApiVersion,
        ns is null ? "ClusterRoleBinding" : "RoleBinding",
        new ObjectMeta(binding.Name, ns, binding.ResourceVersion.ToString(CultureInfo.InvariantCulture), Timestamp(binding.CreatedAt)),
        binding.Repository,
        [.. binding.Subjects.Select(s => new SubjectDocument(s.Kind, s.Name, s.Namespace))],
        new RoleRefDocument(ns is null ? "ClusterRole" : "Role", binding.Role));

    public static NamespaceDocument Render(ScopePolicy policy)
        => new(ApiVersion, "Namespace", new ObjectMeta(policy.Scope, null, policy.Version.ToString(CultureInfo.InvariantCulture), Timestamp(policy.CreatedAt)));

    /// <summary>A resourceVersion as the grains compare it: 0 for none given, null when it is not one of ours.</summary>
    public static long? ParseVersion(string? version)
        => string.IsNullOrEmpty(version) ? 0 : long.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0 ? v : null;

    /// <summary>
    /// The binding a document describes, or the Status that says what is wrong with it.
    /// <paramref name="ns"/> is the namespace of the URL (null at registry scope), <paramref name="name"/> the name of the URL on an update.
    /// </summary>
    public static (RoleBinding? Binding, long Version, KubeStatus? Error) Validate(RoleBindingDocument? document, string? ns, string? name)
    {
        var kind = ns is null ? "ClusterRoleBinding" : "RoleBinding";
        if (document is null)
        {
            return Invalid(KubeStatus.BadRequest($"the body must be a {kind} object"));
        }

        if (document.ApiVersion is not (null or ApiVersion) || document.Kind is not null && document.Kind != kind)
        {
            return Invalid(KubeStatus.BadRequest($"expected apiVersion {ApiVersion} and kind {kind}, got {document.ApiVersion} {document.Kind}"));
        }

        var meta = document.Metadata ?? new ObjectMeta();
        var bindingName = meta.Name ?? name;
        if (bindingName is null || !PolicyNames.IsObjectName(bindingName))
        {
            return Invalid(KubeStatus.Invalid($"metadata.name '{bindingName}' must be a lowercase DNS-1123 name (a-z, 0-9, '-', '.'; at most 253 characters)"));
        }

        if (name is not null && bindingName != name)
        {
            return Invalid(KubeStatus.BadRequest($"metadata.name '{bindingName}' does not match the name in the URL '{name}'"));
        }

        if (meta.Namespace is not null && meta.Namespace != ns)
        {
            return Invalid(KubeStatus.BadRequest(ns is null ? "a ClusterRoleBinding has no metadata.namespace" : $"metadata.namespace '{meta.Namespace}' does not match the namespace in the URL '{ns}'"));
        }

        if (ParseVersion(meta.ResourceVersion) is not { } version)
        {
            return Invalid(KubeStatus.BadRequest($"metadata.resourceVersion '{meta.ResourceVersion}' is not one this registry gave"));
        }

        if (document.Repository is { } repository && (ns is null || !PolicyNames.IsRelativeRepository(repository)))
        {
            return Invalid(KubeStatus.Invalid(ns is null
                ? "a ClusterRoleBinding applies to the whole registry and takes no repository"
                : $"repository '{repository}' must be a repository name relative to the namespace ('app' for {ns}/app)"));
        }

        var role = document.RoleRef?.Name ?? "";
        if (document.RoleRef?.Kind is not (null or "Role" or "ClusterRole") || !Roles.IsValid(role, registryScope: ns is null))
        {
            var valid = string.Join(", ", Roles.All.Keys.Where(r => Roles.IsValid(r, ns is null)));
            return Invalid(KubeStatus.Invalid($"roleRef.name '{role}' is not a built-in role here; use one of {valid}"));
        }

        if (document.Subjects is not { Count: > 0 and <= MaxSubjects } subjects)
        {
            return Invalid(KubeStatus.Invalid($"subjects must hold between 1 and {MaxSubjects} subjects"));
        }

        var parsed = new List<PolicySubject>(subjects.Count);
        foreach (var subject in subjects)
        {
            if (Subject(subject, ns) is not { } valid)
            {
                return Invalid(KubeStatus.Invalid($"subject {subject?.Kind} '{subject?.Name}' is not valid: kind is User, Group or ServiceAccount (with the namespace of the robot), name is not empty and holds no white space"));
            }

            parsed.Add(valid);
        }

        return (new RoleBinding(bindingName, role, [.. parsed.Distinct()], document.Repository, 0, default), version, null);
    }

    private static PolicySubject? Subject(SubjectDocument? subject, string? ns)
    {
        if (subject?.Name is not { } name || !PolicyNames.IsSubjectName(name))
        {
            return null;
        }

        return subject.Kind switch
        {
            PolicySubject.User or PolicySubject.Group when subject.Namespace is null => new PolicySubject(subject.Kind, name),
            PolicySubject.ServiceAccount when (subject.Namespace ?? ns) is { } robotNamespace && PolicyNames.IsNamespace(robotNamespace) && !name.Contains('+')
                => new PolicySubject(PolicySubject.ServiceAccount, name, robotNamespace),
            _ => null,
        };
    }

    private static (RoleBinding?, long, KubeStatus?) Invalid(KubeStatus error) => (null, 0, error);
}
