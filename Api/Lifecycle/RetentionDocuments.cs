using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Registry.Api.Access;
using Registry.Api.Kube;
using Registry.Grains;

namespace Registry.Api.Lifecycle;

/// <summary>A policy's spec as JSON (docs/retention.md); durations as <c>720h</c>, <c>1h30m</c>, <c>7d</c>.</summary>
public sealed record RetentionSpecDocument(
    List<string>? Repositories,
    int? KeepLastPushed,
    string? KeepPushedWithin,
    string? KeepPulledWithin,
    List<string>? KeepTags,
    string? Untagged,
    int? KeepTagRevisions,
    string? KeepYoungerThan,
    RetentionScheduleDocument? Schedule = null);

/// <summary>When a policy applies by itself: every <c>interval</c> (a duration such as <c>24h</c>).</summary>
public sealed record RetentionScheduleDocument(string? Interval);

/// <summary>What a policy's scheduled runs did: the last one, and when the next is due.</summary>
public sealed record RetentionPolicyStatusDocument(RetentionScheduledRunDocument? LastScheduledRun, string? NextScheduledRunAt);

public sealed record RetentionScheduledRunDocument(
    string StartedAt,
    string FinishedAt,
    int RepositoriesExamined,
    int RepositoriesChanged,
    int TagsDeleted,
    int HistoryEntriesDropped,
    int ManifestsDeleted,
    string? Error);

/// <summary>The <c>RetentionPolicy</c> resource; <c>status</c> is the registry's (ignored in what a client sends).</summary>
public sealed record RetentionPolicyDocument(string? ApiVersion, string? Kind, ObjectMeta? Metadata, RetentionSpecDocument? Spec, RetentionPolicyStatusDocument? Status = null);

public sealed record RetentionListMeta(string? ResourceVersion);

public sealed record RetentionPolicyListDocument(string ApiVersion, string Kind, RetentionListMeta Metadata, List<RetentionPolicyDocument> Items);

public sealed record RetentionRunSpec(string Policy, bool DryRun);

public sealed record RetentionTagDocument(string Tag, string Digest);

public sealed record RetentionHistoryDocument(string Tag, string Digest, string Created);

public sealed record RetentionRepositoryDocument(
    string Name,
    List<RetentionTagDocument> TagsDeleted,
    List<RetentionHistoryDocument> HistoryDropped,
    List<string> ManifestsDeleted,
    bool? UntaggedSkipped);

public sealed record RetentionRunStatus(
    string StartedAt,
    string FinishedAt,
    int RepositoriesExamined,
    int RepositoriesChanged,
    int TagsDeleted,
    int HistoryEntriesDropped,
    int ManifestsDeleted,
    int RepositoriesOmitted,
    List<RetentionRepositoryDocument> Repositories);

/// <summary>The outcome of a run (dry or applied) of one policy: the <c>RetentionRun</c> object a POST answers.</summary>
public sealed record RetentionRunDocument(string ApiVersion, string Kind, ObjectMeta Metadata, RetentionRunSpec Spec, RetentionRunStatus Status);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RetentionPolicyDocument))]
[JsonSerializable(typeof(RetentionPolicyListDocument))]
[JsonSerializable(typeof(RetentionRunDocument))]
internal sealed partial class RetentionJsonContext : JsonSerializerContext;

/// <summary>Between stored policies and their documents: rendering, and validating what a client sends.</summary>
public static partial class RetentionDocuments
{
    public const string Kind = "RetentionPolicy";

    public const string Resource = "retentionpolicies";

    /// <summary>The most keepLastPushed and keepTagRevisions say.</summary>
    public const int MaxCount = 100_000;

    /// <summary>The shortest schedule interval when the settings do not say (<c>Registry:Retention:MinimumScheduleInterval</c>).</summary>
    public static readonly TimeSpan DefaultMinimumScheduleInterval = TimeSpan.FromMinutes(5);

    /// <summary>The longest duration accepted (100 years).</summary>
    public static readonly TimeSpan MaxDuration = TimeSpan.FromDays(36_500);

    public static RetentionPolicyDocument Render(RetentionPolicy policy, string? ns, DateTimeOffset? nextScheduledRunAt = null)
    {
        var r = policy.Rules;
        var last = policy.LastScheduledRun;
        var status = last is null && nextScheduledRunAt is null
            ? null
            : new RetentionPolicyStatusDocument(
                last is null ? null : new RetentionScheduledRunDocument(
                    PolicyDocuments.Timestamp(last.StartedAt),
                    PolicyDocuments.Timestamp(last.FinishedAt),
                    last.RepositoriesExamined,
                    last.RepositoriesChanged,
                    last.TagsDeleted,
                    last.HistoryEntriesDropped,
                    last.ManifestsDeleted,
                    last.Error),
                nextScheduledRunAt is { } next ? PolicyDocuments.Timestamp(next) : null);
        return new(
            PolicyDocuments.ApiVersion,
            Kind,
            new ObjectMeta(policy.Name, ns, policy.ResourceVersion.ToString(CultureInfo.InvariantCulture), PolicyDocuments.Timestamp(policy.CreatedAt)),
            new RetentionSpecDocument(
                [.. policy.Repositories],
                r.KeepLastPushed,
                Format(r.KeepPushedWithin),
                Format(r.KeepPulledWithin),
                r.KeepTags.Count > 0 ? [.. r.KeepTags] : null,
                r.DeleteUntagged ? "delete" : "keep",
                r.KeepTagRevisions,
                Format(r.KeepYoungerThan),
                r.ScheduleInterval is { } every ? new RetentionScheduleDocument(Format(every)) : null),
            status);
    }

    /// <summary>The policy a document describes and the resourceVersion it was read at (0: none), or the Status that says what is wrong.</summary>
    public static (IReadOnlyList<string>? Repositories, RetentionRules? Rules, long Version, KubeStatus? Error) Validate(RetentionPolicyDocument? document, string? ns, string name, TimeSpan? minimumScheduleInterval = null)
    {
        if (document is null)
        {
            return Invalid(KubeStatus.BadRequest($"the body must be a {Kind} object"));
        }

        if (document.ApiVersion is not (null or PolicyDocuments.ApiVersion) || document.Kind is not (null or Kind))
        {
            return Invalid(KubeStatus.BadRequest($"expected apiVersion {PolicyDocuments.ApiVersion} and kind {Kind}, got {document.ApiVersion} {document.Kind}"));
        }

        var meta = document.Metadata ?? new ObjectMeta();
        if (meta.Name is not null && meta.Name != name)
        {
            return Invalid(KubeStatus.BadRequest($"metadata.name '{Shorten(meta.Name)}' does not match the name in the URL '{name}'"));
        }

        if (meta.Namespace is not null && meta.Namespace != ns)
        {
            return Invalid(KubeStatus.BadRequest(ns is null ? "the registry's policies have no metadata.namespace" : $"metadata.namespace '{Shorten(meta.Namespace)}' does not match the namespace in the URL '{ns}'"));
        }

        if (PolicyDocuments.ParseVersion(meta.ResourceVersion) is not { } version)
        {
            return Invalid(KubeStatus.BadRequest($"metadata.resourceVersion '{Shorten(meta.ResourceVersion ?? "")}' is not one this registry gave"));
        }

        if (document.Spec is not { } spec)
        {
            return Invalid(KubeStatus.Invalid("spec is required"));
        }

        var repositories = spec.Repositories ?? ["**"];
        if (repositories.Count is 0 or > RetentionPolicy.MaxGlobs)
        {
            return Invalid(KubeStatus.Invalid($"spec.repositories holds {repositories.Count} globs; give 1 to {RetentionPolicy.MaxGlobs} (or leave it out for '**')"));
        }

        foreach (var (glob, index) in repositories.Select((g, i) => (g, i)))
        {
            if (!Glob.IsValid(glob))
            {
                return Invalid(KubeStatus.Invalid($"spec.repositories[{index}] '{Shorten(glob ?? "")}' must be a glob of 1 to {ImmutableTagRule.MaxLength} characters: letters, digits, '.', '_', '-', '/' and the wildcards '*', '**' and '?'"));
            }
        }

        var keepTags = spec.KeepTags ?? [];
        if (keepTags.Count > RetentionPolicy.MaxGlobs)
        {
            return Invalid(KubeStatus.Invalid($"spec.keepTags holds {keepTags.Count} globs; at most {RetentionPolicy.MaxGlobs}"));
        }

        foreach (var (glob, index) in keepTags.Select((g, i) => (g, i)))
        {
            if (!Glob.IsValid(glob) || glob.Contains('/'))
            {
                return Invalid(KubeStatus.Invalid($"spec.keepTags[{index}] '{Shorten(glob ?? "")}' must be a glob of 1 to {ImmutableTagRule.MaxLength} characters: letters, digits, '.', '_', '-' and the wildcards '*' and '?'"));
            }
        }

        if (spec.KeepLastPushed is < 1 or > MaxCount)
        {
            return Invalid(KubeStatus.Invalid($"spec.keepLastPushed {spec.KeepLastPushed} must be between 1 and {MaxCount}"));
        }

        if (spec.KeepTagRevisions is < 1 or > MaxCount)
        {
            return Invalid(KubeStatus.Invalid($"spec.keepTagRevisions {spec.KeepTagRevisions} must be between 1 and {MaxCount}"));
        }

        if (spec.Untagged is not (null or "delete" or "keep"))
        {
            return Invalid(KubeStatus.Invalid($"spec.untagged '{Shorten(spec.Untagged)}' must be 'delete' or 'keep'"));
        }

        TimeSpan? pushedWithin = null, pulledWithin = null, youngerThan = null;
        foreach (var (field, text, set) in new (string, string?, Action<TimeSpan>)[]
        {
            ("keepPushedWithin", spec.KeepPushedWithin, d => pushedWithin = d),
            ("keepPulledWithin", spec.KeepPulledWithin, d => pulledWithin = d),
            ("keepYoungerThan", spec.KeepYoungerThan, d => youngerThan = d),
        })
        {
            if (text is null)
            {
                continue;
            }

            if (ParseDuration(text) is not { } duration)
            {
                return Invalid(KubeStatus.Invalid($"spec.{field} '{Shorten(text)}' must be a duration such as 720h, 1h30m, 45m, 30s or 7d, of at most 100 years"));
            }

            set(duration);
        }

        TimeSpan? schedule = null;
        if (spec.Schedule is { } asked)
        {
            var minimum = minimumScheduleInterval ?? DefaultMinimumScheduleInterval;
            if (asked.Interval is not { } text)
            {
                return Invalid(KubeStatus.Invalid("spec.schedule.interval is required: how often the policy applies, such as 24h"));
            }

            if (ParseDuration(text) is not { } every || every < minimum)
            {
                return Invalid(KubeStatus.Invalid($"spec.schedule.interval '{Shorten(text)}' must be a duration such as 24h, 12h or 7d, of at least {Format(minimum)} and at most 100 years"));
            }

            schedule = every;
        }

        var rules = new RetentionRules(
            spec.KeepLastPushed,
            pushedWithin,
            pulledWithin,
            [.. keepTags],
            spec.Untagged == "delete",
            spec.KeepTagRevisions,
            youngerThan ?? RetentionRules.DefaultKeepYoungerThan,
            schedule);
        return ([.. repositories], rules, version, null);
    }

    /// <summary>A duration as Go and Kubernetes write them (<c>720h</c>, <c>1h30m</c>, <c>90s</c>), plus days (<c>7d</c>); null when not one, or beyond <see cref="MaxDuration"/>.</summary>
    public static TimeSpan? ParseDuration(string text)
    {
        if (text.Length is 0 or > 64 || !DurationSyntax().IsMatch(text))
        {
            return null;
        }

        var total = TimeSpan.Zero;
        foreach (Match part in DurationPart().Matches(text))
        {
            if (!long.TryParse(part.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var amount) || amount > MaxDuration.TotalSeconds)
            {
                return null;
            }

            total += part.Groups[2].Value switch
            {
                "d" => TimeSpan.FromDays(amount),
                "h" => TimeSpan.FromHours(amount),
                "m" => TimeSpan.FromMinutes(amount),
                _ => TimeSpan.FromSeconds(amount),
            };
            if (total > MaxDuration)
            {
                return null;
            }
        }

        return total;
    }

    /// <summary>A duration in hours, minutes and seconds (<c>720h</c>, <c>1h30m</c>, <c>0s</c>).</summary>
    public static string? Format(TimeSpan? duration)
    {
        if (duration is not { } d)
        {
            return null;
        }

        var text = new StringBuilder();
        var hours = (long)d.TotalHours;
        if (hours > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"{hours}h");
        }

        if (d.Minutes > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"{d.Minutes}m");
        }

        if (d.Seconds > 0 || text.Length == 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"{d.Seconds}s");
        }

        return text.ToString();
    }

    [GeneratedRegex("^([0-9]+[dhms])+$", RegexOptions.CultureInvariant)]
    private static partial Regex DurationSyntax();

    [GeneratedRegex("([0-9]+)([dhms])", RegexOptions.CultureInvariant)]
    private static partial Regex DurationPart();

    private static string Shorten(string text) => text.Length > 140 ? text[..140] + "…" : text;

    private static (IReadOnlyList<string>?, RetentionRules?, long, KubeStatus?) Invalid(KubeStatus error) => (null, null, 0, error);
}
