namespace Registry.Grains;

public sealed class RepositoryGrainOptions
{
    /// <summary>How many writes of one tag its history keeps (the oldest are dropped first).</summary>
    public int TagHistoryLimit { get; set; } = 1000;

    /// <summary>
    /// A link used again is written only when its recorded use is older than this, so that pulls and
    /// re-uploads do not write state each time; set from the garbage collection's grace period (a
    /// quarter of it, at most an hour), so a link used within the grace period is never pruned.
    /// </summary>
    public TimeSpan LinkUseResolution { get; set; } = RepositoryPruning.DefaultUseResolution;
}
