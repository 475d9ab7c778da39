namespace Registry.Grains;

/// <summary>
/// Marks a grain method that may be sent again when its first attempt failed because the silo
/// holding the grain (or its directory entry) died: a read, or a change that is idempotent. The
/// silo's outgoing call filter retries such calls until the cluster has moved the grain, within
/// <c>Registry:Cluster:FailoverRetryBudget</c>; unmarked methods fail at once (503 on HTTP).
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class RetryOnFailoverAttribute : Attribute
{
    /// <summary>
    /// The call carries a <see cref="FailoverCall.Id"/>, the same on every attempt, which the
    /// grain records with the change it makes, so an attempt whose first try was applied (and
    /// only its answer was lost) is answered without applying it twice.
    /// </summary>
    public bool WithCallId { get; init; }
}

/// <summary>The id of a call retried on failover (<see cref="RetryOnFailoverAttribute.WithCallId"/>).</summary>
public static class FailoverCall
{
    public const string ContextKey = "registry.call-id";

    /// <summary>The id of the call being served, or null when its caller set none (called without the filter).</summary>
    public static string? Id => Orleans.Runtime.RequestContext.Get(ContextKey) as string;
}
