namespace Registry.Grains;

[GenerateSerializer, Alias("registry.repository-state")]
public sealed class RepositoryState
{
    [Id(0)] public Dictionary<string, TagState> Tags { get; set; } = new(StringComparer.Ordinal);

    [Id(1)] public Dictionary<string, ManifestDescriptor> Manifests { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Blobs this repository may serve, with their sizes.</summary>
    [Id(2)] public Dictionary<string, long> Blobs { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Subject digest → digests of the manifests that name it as their subject.</summary>
    [Id(3)] public Dictionary<string, List<string>> Referrers { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Counts every acknowledged tag change; each history entry carries the value it got.</summary>
    [Id(4)] public long Generation { get; set; }

    [Id(5)] public bool InCatalog { get; set; }

    /// <summary>Events of durable changes not yet known to be published (the outbox).</summary>
    [Id(6)] public List<OutboxEntry> Outbox { get; set; } = [];

    /// <summary>The sequence number of the last event put into the outbox.</summary>
    [Id(7)] public long EventSequence { get; set; }

    /// <summary>
    /// The ids of the recent calls whose change this state holds (<see cref="FailoverCall"/>), so a
    /// call retried after a failover whose first attempt was applied is not applied twice.
    /// </summary>
    [Id(8)] public List<AppliedCall> AppliedCalls { get; set; } = [];

    /// <summary>When the repository was first written (null in state stored before it was recorded).</summary>
    [Id(9)] public DateTimeOffset? Created { get; set; }

    /// <summary>
    /// Manifest digest → the blobs and child manifests it names, recorded at push, so garbage
    /// collection keeps them however the links change. Manifests pushed before it was recorded have no entry.
    /// </summary>
    [Id(10)] public Dictionary<string, string[]> ManifestReferences { get; set; } = new(StringComparer.Ordinal);

    // Garbage collection policies (RepositoryPruning): ids 40–49.

    /// <summary>Manifest digest → when it was last pushed (a push of a stored manifest renews it); pruning's age of a manifest.</summary>
    [Id(40)] public Dictionary<string, DateTimeOffset> ManifestsPushedAt { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Blob digest → when its link was last used (linked, mounted, re-uploaded, named by a pushed manifest); pruning's age of a link.</summary>
    [Id(41)] public Dictionary<string, DateTimeOffset> LinksUsedAt { get; set; } = new(StringComparer.Ordinal);

    // Image stream spec tags and metadata (RepositorySpecTags): ids 50–59.

    /// <summary>The stream's <c>spec.tags</c>, in the order the client gave them.</summary>
    [Id(50)] public List<SpecTag> SpecTags { get; set; } = [];

    /// <summary>The stream's <c>metadata.labels</c> (replaced whole on each change, never mutated: views share it).</summary>
    [Id(51)] public Dictionary<string, string>? StreamLabels { get; set; }

    /// <summary>The stream's <c>metadata.annotations</c> (kubectl apply keeps its last-applied configuration there); replaced whole.</summary>
    [Id(52)] public Dictionary<string, string>? StreamAnnotations { get; set; }

    /// <summary>Created through the image API: the stream exists (is listed, served) while it holds nothing.</summary>
    [Id(53)] public bool StreamDefined { get; set; }

    // Retention (RepositoryRetention): ids 70–79.

    /// <summary>Manifest digest → when it was last pulled (GET by tag or digest), as batched by the HTTP hosts.</summary>
    [Id(70)] public Dictionary<string, DateTimeOffset> ManifestsPulledAt { get; set; } = new(StringComparer.Ordinal);

    public bool IsEmpty => Tags.Count == 0 && Manifests.Count == 0 && Blobs.Count == 0 && !StreamDefined && SpecTags.Count == 0;

    /// <summary>How long, and how many, call ids are kept: far beyond any retry budget (at most a minute).</summary>
    public static readonly TimeSpan AppliedCallWindow = TimeSpan.FromMinutes(2);

    public const int AppliedCallLimit = 512;

    /// <summary>Whether the change of call <paramref name="id"/> is in this state already.</summary>
    public bool WasApplied(string? id) => id is not null && AppliedCalls.Exists(c => c.Id == id);

    /// <summary>Records that this state holds the change of call <paramref name="id"/>; forgets ids out of the window.</summary>
    public void RecordApplied(string? id, DateTimeOffset at)
    {
        if (id is null)
        {
            return;
        }

        var cutoff = at - AppliedCallWindow;
        AppliedCalls.RemoveAll(c => c.At < cutoff);
        if (AppliedCalls.Count >= AppliedCallLimit)
        {
            AppliedCalls.RemoveRange(0, AppliedCalls.Count - AppliedCallLimit + 1);
        }

        AppliedCalls.Add(new AppliedCall(id, at));
    }

    // The changes below are the repository's rules on its own state; the grain decides when they
    // happen and makes them durable.

    /// <summary>Why a manifest cannot be accepted: the first blob or child manifest this repository lacks.</summary>
    public ManifestPushResult? Refusal(ManifestPush push)
    {
        if (push.Blobs.FirstOrDefault(b => !Blobs.ContainsKey(b)) is { } blob)
        {
            return new ManifestPushResult(ManifestPushOutcome.BlobUnknown, blob, Generation);
        }

        if (push.ChildManifests.FirstOrDefault(c => !Manifests.ContainsKey(c)) is { } child)
        {
            return new ManifestPushResult(ManifestPushOutcome.ManifestUnknown, child, Generation);
        }

        return !push.MayMoveTag && push.AllTags.FirstOrDefault(t => Tags.TryGetValue(t, out var current) && current.Digest != push.Manifest.Digest) is { } tag
            ? new ManifestPushResult(ManifestPushOutcome.TagExists, tag, Generation)
            : null;
    }

    /// <summary>Stores a manifest's descriptor and what it names (<paramref name="references"/>), and indexes it under its subject.</summary>
    public void AddManifest(ManifestDescriptor manifest, IEnumerable<string>? references = null)
    {
        Manifests.TryAdd(manifest.Digest, manifest);
        if (references is not null)
        {
            ManifestReferences.TryAdd(manifest.Digest, references.Distinct(StringComparer.Ordinal).ToArray());
        }

        if (manifest.Subject is { } subject)
        {
            var list = Referrers.TryGetValue(subject, out var existing) ? existing : Referrers[subject] = [];
            if (!list.Contains(manifest.Digest))
            {
                list.Add(manifest.Digest);
            }
        }
    }

    /// <summary>Points a tag at a manifest and records the write in its history (at most <paramref name="historyLimit"/>); true when the tag is new.</summary>
    public bool MoveTag(string tag, string digest, DateTimeOffset at, int historyLimit)
    {
        var created = !Tags.TryGetValue(tag, out var state);
        if (created)
        {
            Tags[tag] = state = new TagState();
        }

        state!.Digest = digest;
        state.History.Add(new TagHistoryEntry(digest, at, ++Generation));
        var excess = state.History.Count - historyLimit;
        if (excess > 0)
        {
            state.History.RemoveRange(0, excess);
        }

        return created;
    }

    /// <summary>Removes a manifest, the tags that point at it and its place in the referrers index.</summary>
    public bool RemoveManifest(string digest, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ManifestDescriptor? manifest)
    {
        if (!Manifests.Remove(digest, out manifest))
        {
            return false;
        }

        ManifestReferences.Remove(digest);

        foreach (var tag in Tags.Where(t => t.Value.Digest == digest).Select(t => t.Key).ToList())
        {
            Tags.Remove(tag);
        }

        if (manifest.Subject is { } subject && Referrers.TryGetValue(subject, out var referrers))
        {
            referrers.Remove(digest);
            if (referrers.Count == 0)
            {
                Referrers.Remove(subject);
            }
        }

        Generation++;
        return true;
    }

    /// <summary>The repository as an image stream: tags in name order, each with its history newest first.</summary>
    public ImageStreamView ImageStream()
    {
        var tags = Tags.OrderBy(t => t.Key, StringComparer.Ordinal)
            .Select(t => new ImageStreamTagView(t.Key, Enumerable.Reverse(t.Value.History).ToArray()))
            .ToArray();
        var mediaTypes = tags.SelectMany(t => t.History).Select(h => h.Digest).Distinct(StringComparer.Ordinal)
            .Where(Manifests.ContainsKey)
            .ToDictionary(d => d, d => Manifests[d].MediaType, StringComparer.Ordinal);
        var created = Created ?? Manifests.Values.Select(m => m.PushedAt).DefaultIfEmpty(DateTimeOffset.UnixEpoch).Min();
        var spec = new ImageStreamSpecView(SpecTags.ToArray(), StreamLabels, StreamAnnotations);
        return new ImageStreamView(tags, EventSequence, Generation, created, mediaTypes, spec);
    }

    /// <summary>A page of the manifests in ordinal order of digest.</summary>
    public ManifestPage ManifestsAfter(string? after, int limit)
    {
        var page = Manifests.Values
            .Where(m => after is null || string.CompareOrdinal(m.Digest, after) > 0)
            .OrderBy(m => m.Digest, StringComparer.Ordinal)
            .Take(limit + 1)
            .ToList();
        var more = page.Count > limit;
        if (more)
        {
            page.RemoveAt(limit);
        }

        return new ManifestPage(page, more);
    }

    /// <summary>Every digest this repository needs stored: its links, its manifests and what they name.</summary>
    public RepositoryReferences References()
    {
        var digests = new HashSet<string>(Blobs.Keys, StringComparer.Ordinal);
        digests.UnionWith(Manifests.Keys);
        var unrecorded = new List<string>();
        foreach (var digest in Manifests.Keys)
        {
            if (ManifestReferences.TryGetValue(digest, out var named))
            {
                digests.UnionWith(named);
            }
            else
            {
                unrecorded.Add(digest);
            }
        }

        return new RepositoryReferences(digests.ToArray(), unrecorded);
    }

    /// <summary>The manifests that name <paramref name="subject"/>, optionally only those of one artifact type.</summary>
    public IReadOnlyList<Referrer> ReferrersOf(string subject, string? artifactType)
        => Referrers.TryGetValue(subject, out var digests)
            ? digests
                .Select(d => Manifests[d])
                .Where(m => artifactType is null || m.ArtifactType == artifactType)
                .Select(m => new Referrer(m.Digest, m.MediaType, m.Size, m.ArtifactType, m.Annotations))
                .ToArray()
            : [];
}

[GenerateSerializer, Alias("registry.tag-state")]
public sealed class TagState
{
    [Id(0)] public string Digest { get; set; } = "";

    /// <summary>Acknowledged writes, oldest first (read newest first).</summary>
    [Id(1)] public List<TagHistoryEntry> History { get; set; } = [];
}

[GenerateSerializer, Alias("registry.outbox-entry")]
public sealed record OutboxEntry([property: Id(0)] long Sequence, [property: Id(1)] RegistryEvent Event);

[GenerateSerializer, Alias("registry.applied-call")]
public sealed record AppliedCall([property: Id(0)] string Id, [property: Id(1)] DateTimeOffset At);
