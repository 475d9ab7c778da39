namespace Registry.Grains;

/// <summary>
/// The image's holders: the repositories that hold its manifest, rechecked against each one's own
/// state whenever one of them changes it (a push, a manifest delete), so the registry knows when
/// an image is gone without asking every repository. The grain is not reentrant: rechecks run one
/// at a time, each reads the repository as it is then, and the last one leaves the truth.
/// </summary>
public sealed partial class ImageGrain
{
    /// <summary>At most this many holders are named in an answer (all are counted).</summary>
    public const int MaxNamedHolders = 64;

    public async Task<ImageHolding> Recheck(string repository, bool pushed)
    {
        var digest = this.GetPrimaryKeyString();
        var held = await GrainFactory.GetGrain<IRepositoryGrain>(repository).GetManifest(digest) is not null;
        var s = state.State;

        // Only a push starts tracking: a delete of an untracked image says nothing of other holders.
        var changed = held
            ? s.Holders.Add(repository) | !s.Tracked
            : s.Holders.Remove(repository) | (pushed && !s.Tracked);
        if (changed)
        {
            s.Tracked = true;
            s.LastRepository = repository;
            await WriteAsync();
        }

        return Holding(s);
    }

    public ValueTask<ImageHolding> GetHolding() => ValueTask.FromResult(Holding(state.State));

    private static ImageHolding Holding(ImageState s)
        => s.Tracked ? new ImageHolding(true, s.Holders.Count, s.LastRepository, s.Holders.Order(StringComparer.Ordinal).Take(MaxNamedHolders).ToArray()) : ImageHolding.Unknown;
}
