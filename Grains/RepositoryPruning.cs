namespace Registry.Grains;

/// <summary>
/// The repository's pruning rules (garbage collection's policies, docs/garbage-collection.md):
/// which untagged manifests and which unused links go, decided on the state within one turn of
/// the repository grain, and the bookkeeping of when each manifest was pushed and each link used.
/// </summary>
/// <remarks>
/// A manifest stays when a tag points at it, when it was pushed within the grace period, or when a
/// manifest that stays names it: as a child of an index, as the subject of a referrer, or as a
/// referrer of it (signatures and attestations follow their subject). A link stays when a manifest
/// that stays names it or when it was used within the grace period. A repository holding manifests
/// pushed before their references were recorded is not pruned at all: what they name is unknown.
/// </remarks>
public static class RepositoryPruning
{
    /// <summary>A link used again (re-uploaded, mounted) is written only when its recorded use is older than this, by default.</summary>
    public static readonly TimeSpan DefaultUseResolution = TimeSpan.FromHours(1);

    /// <summary>The resolution for a grace period: a quarter of it, at most <see cref="DefaultUseResolution"/>.</summary>
    public static TimeSpan UseResolutionFor(TimeSpan gracePeriod) => TimeSpan.FromTicks(Math.Min(DefaultUseResolution.Ticks, gracePeriod.Ticks / 4));

    /// <summary>A manifest push: the manifest's age starts again, and the links it names are used now.</summary>
    public static void ManifestPushed(RepositoryState s, string digest, IEnumerable<string> blobs, DateTimeOffset now)
    {
        s.ManifestsPushedAt[digest] = now;
        foreach (var blob in blobs)
        {
            if (s.Blobs.ContainsKey(blob))
            {
                s.LinksUsedAt[blob] = now;
            }
        }
    }

    /// <summary>A new link.</summary>
    public static void Linked(RepositoryState s, string digest, DateTimeOffset now) => s.LinksUsedAt[digest] = now;

    /// <summary>An existing link used again; true when that is worth a state write (its recorded use is old).</summary>
    public static bool Relinked(RepositoryState s, string digest, DateTimeOffset now, TimeSpan resolution)
    {
        if (s.LinksUsedAt.TryGetValue(digest, out var at) && now - at < resolution)
        {
            return false;
        }

        s.LinksUsedAt[digest] = now;
        return true;
    }

    /// <summary>
    /// What the request removes from this state. Outside a dry run, links with no recorded use get
    /// <paramref name="now"/> (state from before uses were recorded) and records of what is gone are
    /// dropped: <paramref name="changed"/> says the state needs a write even when nothing is removed.
    /// </summary>
    public static PruneResult Plan(RepositoryState s, PruneRequest request, DateTimeOffset now, out bool changed)
    {
        changed = false;
        if (!request.DryRun)
        {
            changed |= Forget(s.ManifestsPushedAt, s.Manifests.ContainsKey) | Forget(s.LinksUsedAt, s.Blobs.ContainsKey);
            foreach (var link in s.Blobs.Keys.Where(l => !s.LinksUsedAt.ContainsKey(l)).ToList())
            {
                s.LinksUsedAt[link] = now;
                changed = true;
            }
        }

        if (s.Manifests.Keys.Any(d => !s.ManifestReferences.ContainsKey(d)))
        {
            return new PruneResult([], [], s.References());
        }

        var manifests = request.RemoveUntagged ? Untagged(s, request.Cutoff) : [];
        var gone = new HashSet<string>(manifests, StringComparer.Ordinal);
        var needed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var digest in s.Manifests.Keys.Where(d => !gone.Contains(d)))
        {
            needed.Add(digest);
            needed.UnionWith(s.ManifestReferences[digest]);
        }

        var links = request.RemoveUnusedLinks
            ? s.Blobs.Keys
                .Where(l => !needed.Contains(l) && s.LinksUsedAt.TryGetValue(l, out var used) && used < request.Cutoff)
                .Order(StringComparer.Ordinal)
                .ToList()
            : [];
        needed.UnionWith(s.Blobs.Keys.Except(links, StringComparer.Ordinal));
        return new PruneResult(manifests, links, new RepositoryReferences([.. needed], []));
    }

    /// <summary>Removes what <see cref="Plan"/> chose, in the same turn; <paramref name="emit"/> gets each deletion's event.</summary>
    public static void Apply(RepositoryState s, PruneResult plan, Action<string, string, long> emitManifest, Action<string, long> emitLink)
    {
        foreach (var digest in plan.Manifests)
        {
            if (s.RemoveManifest(digest, out var manifest))
            {
                s.ManifestsPushedAt.Remove(digest);
                emitManifest(manifest.MediaType, digest, manifest.Size);
            }
        }

        foreach (var digest in plan.Links)
        {
            if (s.Blobs.Remove(digest, out var size))
            {
                s.LinksUsedAt.Remove(digest);
                emitLink(digest, size);
            }
        }
    }

    /// <summary>The manifests no tag, no recent push and no manifest that stays keeps, in ordinal order.</summary>
    private static List<string> Untagged(RepositoryState s, DateTimeOffset cutoff)
    {
        var kept = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>();
        foreach (var digest in s.Tags.Values.Select(t => t.Digest)
            .Concat(s.Manifests.Values.Where(m => s.ManifestsPushedAt.GetValueOrDefault(m.Digest, m.PushedAt) >= cutoff).Select(m => m.Digest)))
        {
            pending.Push(digest);
        }

        while (pending.TryPop(out var digest))
        {
            if (!s.Manifests.TryGetValue(digest, out var manifest) || !kept.Add(digest))
            {
                continue;
            }

            foreach (var child in s.ManifestReferences[digest])
            {
                pending.Push(child);
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

        return [.. s.Manifests.Keys.Where(d => !kept.Contains(d)).Order(StringComparer.Ordinal)];
    }

    private static bool Forget(Dictionary<string, DateTimeOffset> times, Func<string, bool> present)
    {
        var stale = times.Keys.Where(k => !present(k)).ToList();
        foreach (var key in stale)
        {
            times.Remove(key);
        }

        return stale.Count > 0;
    }
}
