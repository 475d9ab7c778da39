namespace Registry.Grains;

/// <summary>
/// The repository's rules for the image API's writes (tag moves, deleting a whole stream), on its
/// state; the grain decides when they happen, emits their events and makes them durable.
/// </summary>
public static class RepositoryTagging
{
    public const string BlobMediaType = "application/octet-stream";

    /// <summary>Why <paramref name="move"/> cannot be applied now, or null.</summary>
    public static TagMoveOutcome? Refusal(this RepositoryState state, TagMove move)
    {
        // The version check comes first: a stale caller decided on what it no longer sees.
        if (move.ExpectedSequence is { } expected && expected != state.EventSequence)
        {
            return TagMoveOutcome.Stale;
        }

        if (!state.Manifests.ContainsKey(move.Digest))
        {
            return TagMoveOutcome.ManifestUnknown;
        }

        if (!state.Tags.TryGetValue(move.Tag, out var current))
        {
            return null;
        }

        if (move.MustCreate)
        {
            return TagMoveOutcome.TagExists;
        }

        return !move.MayMove && current.Digest != move.Digest ? TagMoveOutcome.NeedsOverwrite : null;
    }

    /// <summary>
    /// Removes every tag, then every manifest, then every blob link, each a change of its own (as
    /// the deletes over <c>/v2</c> would be): <paramref name="removed"/> is told of each right after
    /// it (media type, digest, size, tag), so its event carries that change's generation.
    /// </summary>
    public static void RemoveStream(this RepositoryState state, Action<string?, string, long, string?> removed)
    {
        // The spec goes with the stream: a stream created again starts empty.
        state.SpecTags = [];
        state.StreamLabels = null;
        state.StreamAnnotations = null;
        state.StreamDefined = false;

        foreach (var (tag, tagState) in state.Tags.OrderBy(t => t.Key, StringComparer.Ordinal).ToList())
        {
            state.Tags.Remove(tag);
            state.Generation++;
            var manifest = state.Manifests.GetValueOrDefault(tagState.Digest);
            removed(manifest?.MediaType, tagState.Digest, manifest?.Size ?? 0, tag);
        }

        foreach (var digest in state.Manifests.Keys.Order(StringComparer.Ordinal).ToList())
        {
            if (state.RemoveManifest(digest, out var manifest))
            {
                removed(manifest.MediaType, digest, manifest.Size, null);
            }
        }

        foreach (var (digest, size) in state.Blobs.OrderBy(b => b.Key, StringComparer.Ordinal).ToList())
        {
            state.Blobs.Remove(digest);
            removed(BlobMediaType, digest, size, null);
        }
    }
}
