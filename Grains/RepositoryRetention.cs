namespace Registry.Grains;

/// <summary>
/// The repository's retention rules (docs/retention.md) on its state: last-pulled bookkeeping,
/// and which tags, tag history entries and untagged manifests a policy deletes. Decided and
/// applied within one turn of the repository grain, which emits the events and writes the state.
/// </summary>
/// <remarks>
/// A tag is kept when tag retention is off (no keep rule set), when an immutable tag rule protects
/// it, or when any keep rule keeps it. Of a kept tag, history entries beyond the newest
/// <c>keepTagRevisions</c> that are older than <c>keepYoungerThan</c> are dropped. A manifest is
/// untagged when no kept tag points at it and no remaining history entry names it; with
/// <c>untagged: delete</c> it goes unless pushed within <c>keepYoungerThan</c> or named by a manifest
/// that stays (an index's children, a referrer's subject, a kept manifest's referrers).
/// </remarks>
public static class RepositoryRetention
{
    /// <summary>Merges a batch of pull times (the newest wins); true when the state changed and needs a write.</summary>
    public static bool RecordPulls(RepositoryState s, IReadOnlyDictionary<string, DateTimeOffset> pulls)
    {
        var changed = false;
        foreach (var (digest, at) in pulls)
        {
            if (s.Manifests.ContainsKey(digest) && (!s.ManifestsPulledAt.TryGetValue(digest, out var known) || known < at))
            {
                s.ManifestsPulledAt[digest] = at;
                changed = true;
            }
        }

        return changed;
    }

    /// <summary>When a tag was last pushed: its last write, or a later push of its manifest.</summary>
    public static DateTimeOffset PushedAt(RepositoryState s, TagState tag)
    {
        var written = tag.History.Count > 0 ? tag.History[^1].Created : DateTimeOffset.MinValue;
        var pushed = s.ManifestsPushedAt.TryGetValue(tag.Digest, out var at) ? at : s.Manifests.GetValueOrDefault(tag.Digest)?.PushedAt ?? DateTimeOffset.MinValue;
        return written > pushed ? written : pushed;
    }

    /// <summary>What <paramref name="request"/> deletes from this state; changes nothing.</summary>
    public static RetentionResult Plan(RepositoryState s, RetentionRequest request)
    {
        var rules = request.Rules;
        var now = request.Now;
        var kept = KeptTags(s, request);
        var tags = s.Tags
            .Where(t => !kept.Contains(t.Key))
            .OrderBy(t => t.Key, StringComparer.Ordinal)
            .Select(t => new RetentionTag(t.Key, t.Value.Digest))
            .ToList();

        var history = new List<RetentionHistoryEntry>();
        if (rules.KeepTagRevisions is { } revisions)
        {
            var cutoff = now - rules.KeepYoungerThan;
            foreach (var tag in kept.Order(StringComparer.Ordinal))
            {
                var entries = s.Tags[tag].History;

                // Oldest first: the entries before the newest N, of those the old enough.
                history.AddRange(entries.Take(Math.Max(0, entries.Count - revisions))
                    .Where(e => e.Created < cutoff)
                    .Select(e => new RetentionHistoryEntry(tag, e.Digest, e.Created, e.Generation)));
            }
        }

        if (!rules.DeleteUntagged)
        {
            return new RetentionResult(tags, history, [], false);
        }

        if (s.Manifests.Keys.Any(d => !s.ManifestReferences.ContainsKey(d)))
        {
            return new RetentionResult(tags, history, [], true);
        }

        var dropped = history.Select(h => h.Generation).ToHashSet();
        var roots = kept.SelectMany(t => s.Tags[t].History.Where(e => !dropped.Contains(e.Generation)).Select(e => e.Digest).Append(s.Tags[t].Digest))
            .Concat(s.Manifests.Values.Where(m => s.ManifestsPushedAt.GetValueOrDefault(m.Digest, m.PushedAt) >= now - rules.KeepYoungerThan).Select(m => m.Digest));
        var needed = Closure(s, roots);
        return new RetentionResult(tags, history, [.. s.Manifests.Keys.Where(d => !needed.Contains(d)).Order(StringComparer.Ordinal)], false);
    }

    /// <summary>
    /// Removes what <see cref="Plan"/> chose, in the same turn: <paramref name="removed"/> is told
    /// of each tag and manifest right after it goes (media type, digest, size, tag), so its event
    /// carries that change's generation.
    /// </summary>
    public static void Apply(RepositoryState s, RetentionResult plan, Action<string?, string, long, string?> removed)
    {
        foreach (var tag in plan.Tags)
        {
            if (s.Tags.Remove(tag.Tag, out var state))
            {
                s.Generation++;
                var manifest = s.Manifests.GetValueOrDefault(state.Digest);
                removed(manifest?.MediaType, state.Digest, manifest?.Size ?? 0, tag.Tag);
            }
        }

        foreach (var group in plan.History.GroupBy(h => h.Tag, StringComparer.Ordinal))
        {
            if (s.Tags.TryGetValue(group.Key, out var state))
            {
                var generations = group.Select(h => h.Generation).ToHashSet();
                state.History.RemoveAll(e => generations.Contains(e.Generation));
            }
        }

        foreach (var digest in plan.Manifests)
        {
            if (s.RemoveManifest(digest, out var manifest))
            {
                s.ManifestsPushedAt.Remove(digest);
                s.ManifestsPulledAt.Remove(digest);
                removed(manifest.MediaType, digest, manifest.Size, null);
            }
        }

        // Pull times of manifests deleted otherwise (through /v2) go with the next run.
        foreach (var stale in s.ManifestsPulledAt.Keys.Where(d => !s.Manifests.ContainsKey(d)).ToList())
        {
            s.ManifestsPulledAt.Remove(stale);
        }
    }

    private static HashSet<string> KeptTags(RepositoryState s, RetentionRequest request)
    {
        var rules = request.Rules;
        if (!rules.RetainsTags)
        {
            return [.. s.Tags.Keys];
        }

        var now = request.Now;
        var kept = new HashSet<string>(StringComparer.Ordinal);
        if (rules.KeepLastPushed is { } count)
        {
            kept.UnionWith(s.Tags
                .OrderByDescending(t => PushedAt(s, t.Value))
                .ThenBy(t => t.Key, StringComparer.Ordinal)
                .Take(count)
                .Select(t => t.Key));
        }

        foreach (var (name, tag) in s.Tags)
        {
            if ((rules.KeepPushedWithin is { } pushed && PushedAt(s, tag) >= now - pushed)
                || (rules.KeepPulledWithin is { } pulled && s.ManifestsPulledAt.TryGetValue(tag.Digest, out var at) && at >= now - pulled)
                || rules.KeepTags.Any(g => Glob.IsMatch(g, name))
                || request.ImmutableTagRules.Any(r => r.Protects(name)))
            {
                kept.Add(name);
            }
        }

        return kept;
    }

    /// <summary>The manifests <paramref name="roots"/> keep: themselves, and transitively their children, subjects and referrers.</summary>
    private static HashSet<string> Closure(RepositoryState s, IEnumerable<string> roots)
    {
        var kept = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>(roots);
        while (pending.TryPop(out var digest))
        {
            if (!s.Manifests.TryGetValue(digest, out var manifest) || !kept.Add(digest))
            {
                continue;
            }

            foreach (var named in s.ManifestReferences[digest])
            {
                pending.Push(named);
            }

            if (manifest.Subject is { } subject)
            {
                pending.Push(subject);
            }

            if (s.Referrers.TryGetValue(digest, out var referrers))
            {
                foreach (var referrer in referrers)
                {
                    pending.Push(referrer);
                }
            }
        }

        return kept;
    }
}
