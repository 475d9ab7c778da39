using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace Registry.Grains;

/// <summary>
/// Spec tags of the image stream (docs/image-api.md#spec-tags): the stream's <c>spec.tags</c>,
/// labels and annotations, and tracking tags, a spec tag whose <c>from</c> is another tag of the
/// same stream and which moves whenever that tag moves, in the same turn.
/// </summary>
public sealed partial class RepositoryGrain
{
    public async Task<SpecChangeResult> ChangeImageStreamSpec(SpecChange change)
    {
        if (await IsRetryOfAppliedCallAsync())
        {
            return new SpecChangeResult(SpecChangeOutcome.Changed, S.EventSequence);
        }

        var exists = !S.IsEmpty;
        switch (change.Mode)
        {
            // The images a create's tags copy in from other streams came first: only tags or a stream created before count.
            case SpecChangeMode.CreateStream when S.StreamDefined || S.Tags.Count > 0 || S.SpecTags.Count > 0:
                return new SpecChangeResult(SpecChangeOutcome.AlreadyExists, S.EventSequence);
            case SpecChangeMode.UpdateStream when !exists:
                return new SpecChangeResult(SpecChangeOutcome.NotFound, S.EventSequence);
        }

        if (change.ExpectedSequence is { } expected && expected != S.EventSequence)
        {
            return new SpecChangeResult(SpecChangeOutcome.Stale, S.EventSequence);
        }

        var setTag = change.Mode == SpecChangeMode.SetTag ? change.Tags[0] : null;
        List<SpecTag> desired;
        if (setTag is not null)
        {
            if (change.MustCreateTag && (S.Tags.ContainsKey(setTag.Name) || S.SpecTags.Exists(t => t.Name == setTag.Name)))
            {
                return new SpecChangeResult(SpecChangeOutcome.AlreadyExists, S.EventSequence, setTag.Name);
            }

            if (!change.Resolved.TryGetValue(setTag.Name, out var target) || !S.Manifests.ContainsKey(target))
            {
                return new SpecChangeResult(SpecChangeOutcome.ManifestUnknown, S.EventSequence, setTag.Name);
            }

            desired = [.. S.SpecTags];
            var at = desired.FindIndex(t => t.Name == setTag.Name);
            if (at >= 0)
            {
                desired[at] = setTag;
            }
            else
            {
                desired.Add(setTag);
            }
        }
        else
        {
            desired = [.. change.Tags];
        }

        if (SpecTagRules.Cycle(Name, desired) is { } cycle)
        {
            return new SpecChangeResult(SpecChangeOutcome.Cycle, S.EventSequence, Cycle: cycle);
        }

        var current = S.SpecTags.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var changed = desired.Where(t => !current.TryGetValue(t.Name, out var was) || !was.SameIntent(t)).Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var removed = setTag is null && current.Keys.Any(k => !desired.Exists(d => d.Name == k));

        // What each changed tag is to point at: what the caller resolved, or (a tracking tag) its source's image.
        // An ImageStreamTag write points its tag again even when its spec is unchanged (the source may have moved).
        var seeds = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var tag in desired.Where(t => changed.Contains(t.Name) || t == setTag))
        {
            if (change.Resolved.TryGetValue(tag.Name, out var digest))
            {
                seeds[tag.Name] = digest;
            }
            else if (SpecTagRules.Tracked(tag, Name) is not null)
            {
                seeds[tag.Name] = null;
            }
        }

        var plan = new TrackingPlan(this, desired, change.ImmutableTagRules, change.MayMove);
        if (plan.Seed(seeds) is { } refused)
        {
            return refused;
        }

        var metadataChanged = setTag is null
            && (!SpecTag.SameMap(S.StreamLabels, change.Labels) || !SpecTag.SameMap(S.StreamAnnotations, change.Annotations));
        var specChanged = changed.Count > 0 || removed;
        if (exists && !specChanged && !metadataChanged && plan.Moves.Count == 0)
        {
            return new SpecChangeResult(SpecChangeOutcome.Unchanged, S.EventSequence);
        }

        S.RecordApplied(FailoverCall.Id, _time.GetUtcNow());
        if (setTag is null)
        {
            S.StreamDefined = true;
            S.StreamLabels = change.Labels is { Count: > 0 } labels ? new Dictionary<string, string>(labels, StringComparer.Ordinal) : null;
            S.StreamAnnotations = change.Annotations is { Count: > 0 } annotations ? new Dictionary<string, string>(annotations, StringComparer.Ordinal) : null;
        }

        ApplyMoves(plan.Moves);
        if (specChanged)
        {
            // The stream's generation grows with every spec change; a changed tag records the generation it changed at.
            if (plan.Moves.Count == 0)
            {
                S.Generation++;
            }

            S.SpecTags = desired.Select(t => t with { Generation = changed.Contains(t.Name) ? S.Generation : current[t.Name].Generation ?? S.Generation }).ToList();
        }

        if (plan.Moves.Count == 0)
        {
            Emit(SpecTagRules.ImageStreamChanged, null, null, 0, null);
        }

        await SaveAndPublishAsync();
        return new SpecChangeResult(SpecChangeOutcome.Changed, S.EventSequence, Moved: plan.Moves.Select(m => m.Tag).ToArray());
    }

    public async Task<GuardedDeleteResult> DeleteImageStreamTag(string tag, IReadOnlyList<ImmutableTagRule> rules)
    {
        if (await IsRetryOfAppliedCallAsync())
        {
            return new(true);
        }

        if (ImmutableTagCheck.TagDeleteRefusal(S, tag, rules) is { } refused)
        {
            return refused;
        }

        var spec = S.SpecTags.FindIndex(t => t.Name == tag);
        if (spec < 0 && !S.Tags.ContainsKey(tag))
        {
            return new(false);
        }

        S.RecordApplied(FailoverCall.Id, _time.GetUtcNow());
        if (spec >= 0)
        {
            S.SpecTags = S.SpecTags.Where(t => t.Name != tag).ToList();
        }

        S.Generation++;
        if (S.Tags.Remove(tag, out var status))
        {
            _tags.Changed();
            var manifest = S.Manifests.GetValueOrDefault(status.Digest);
            Emit(RegistryEvent.Delete, manifest?.MediaType, status.Digest, manifest?.Size ?? 0, tag);
        }
        else
        {
            Emit(SpecTagRules.ImageStreamChanged, null, null, 0, null);
        }

        await SaveAndPublishAsync();
        return new(true);
    }

    /// <summary>
    /// In the turn of a change that moved <paramref name="movedTags"/>: every tag tracking one of
    /// them, transitively, moves to its image with a history entry and event. A tracking tag that
    /// an immutable tag rule protects and that points elsewhere is left where it is (logged).
    /// </summary>
    private void MoveTrackingTags(IEnumerable<string> movedTags, IReadOnlyList<ImmutableTagRule>? rules)
    {
        if (S.SpecTags.Count == 0)
        {
            return;
        }

        var plan = new TrackingPlan(this, S.SpecTags, rules, mayMove: true);
        foreach (var tag in movedTags)
        {
            if (S.Tags.TryGetValue(tag, out var moved))
            {
                plan.Propagate(tag, moved.Digest);
            }
        }

        ApplyMoves(plan.Moves);
    }

    private void ApplyMoves(IReadOnlyList<(string Tag, string Digest)> moves)
    {
        foreach (var (tag, digest) in moves)
        {
            var manifest = S.Manifests[digest];
            if (S.MoveTag(tag, digest, _time.GetUtcNow(), _options.Value.TagHistoryLimit))
            {
                _tags.Changed();
            }

            Emit(RegistryEvent.Push, manifest.MediaType, digest, manifest.Size, tag);
        }
    }

    /// <summary>
    /// Which tags a change moves, decided on the state before any is applied: the seeds (tags whose
    /// spec changed), sources before the tags that track them, then every tracking tag of a moved tag.
    /// </summary>
    private sealed class TrackingPlan(RepositoryGrain grain, IReadOnlyList<SpecTag> spec, IReadOnlyList<ImmutableTagRule>? rules, bool mayMove)
    {
        private readonly Dictionary<string, string> _planned = new(StringComparer.Ordinal);
        private readonly HashSet<string> _seeded = new(StringComparer.Ordinal);
        private Dictionary<string, string?> _seeds = new(StringComparer.Ordinal);
        private readonly ILookup<string, string> _trackers = spec
            .Select(t => (t.Name, Source: SpecTagRules.Tracked(t, grain.Name)))
            .Where(t => t.Source is not null)
            .ToLookup(t => t.Source!, t => t.Name, StringComparer.Ordinal);

        private readonly Dictionary<string, string?> _sources = spec.ToDictionary(t => t.Name, t => SpecTagRules.Tracked(t, grain.Name), StringComparer.Ordinal);

        public List<(string Tag, string Digest)> Moves { get; } = [];

        private RepositoryState S => grain.S;

        /// <summary>Plans the seeds (tag → image, null to follow its source); the refusal of an explicit move, or null.</summary>
        public SpecChangeResult? Seed(Dictionary<string, string?> seeds)
        {
            _seeds = seeds;
            foreach (var tag in seeds.Keys.Order(StringComparer.Ordinal))
            {
                if (SeedOne(tag) is { } refused)
                {
                    return refused;
                }
            }

            return null;
        }

        private SpecChangeResult? SeedOne(string tag)
        {
            if (!_seeded.Add(tag))
            {
                return null;
            }

            var target = _seeds[tag];
            if (target is null && _sources.GetValueOrDefault(tag) is { } source)
            {
                if (_seeds.ContainsKey(source) && SeedOne(source) is { } refused)
                {
                    return refused;
                }

                target = DigestOf(source);
            }

            return target is null || !S.Manifests.ContainsKey(target) ? null : Move(tag, target, explicitly: true);
        }

        /// <summary>Moves the tags tracking <paramref name="tag"/> (now at <paramref name="digest"/>), transitively.</summary>
        public void Propagate(string tag, string digest)
        {
            foreach (var tracker in _trackers[tag])
            {
                // A tracking tag whose own spec changed in this change is planned from its source once that is planned.
                if (!_seeds.ContainsKey(tracker))
                {
                    Move(tracker, digest, explicitly: false);
                }
            }
        }

        private string? DigestOf(string tag)
            => _planned.TryGetValue(tag, out var planned) ? planned : S.Tags.TryGetValue(tag, out var state) ? state.Digest : null;

        private SpecChangeResult? Move(string tag, string digest, bool explicitly)
        {
            if (DigestOf(tag) == digest)
            {
                return null;
            }

            if (S.Tags.TryGetValue(tag, out var existing) && existing.Digest != digest)
            {
                if (rules?.FirstOrDefault(r => r.Protects(tag)) is { } rule)
                {
                    if (explicitly)
                    {
                        return new SpecChangeResult(SpecChangeOutcome.Immutable, S.EventSequence, tag, rule.Name);
                    }

                    // The source's move goes on; the protected tracking tag keeps its image (docs/image-api.md#tracking-tags).
                    SpecTagLog.TrackingTagProtected(grain._logger, grain.Name, tag, rule.Name);
                    return null;
                }

                if (explicitly && !mayMove)
                {
                    return new SpecChangeResult(SpecChangeOutcome.NeedsOverwrite, S.EventSequence, tag);
                }
            }

            _planned[tag] = digest;
            Moves.Add((tag, digest));
            Propagate(tag, digest);
            return null;
        }
    }
}

internal static partial class SpecTagLog
{
    [LoggerMessage(LogLevel.Warning, "Tracking tag {Repository}:{Tag} did not follow its source: immutable tag rule {Rule} protects it")]
    public static partial void TrackingTagProtected(ILogger logger, string repository, string tag, string rule);
}
