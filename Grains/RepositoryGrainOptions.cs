namespace Registry.Grains;

public sealed class RepositoryGrainOptions
{
    /// <summary>How many writes of one tag its history keeps (the oldest are dropped first).</summary>
    public int TagHistoryLimit { get; set; } = 1000;
}
