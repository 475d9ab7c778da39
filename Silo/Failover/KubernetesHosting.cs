namespace Registry.Silo.Failover;

/// <summary>When a cluster-mode silo uses Orleans' Kubernetes hosting (<see cref="SiloOptions.Kubernetes"/>).</summary>
public static class KubernetesHosting
{
    /// <summary>The downward-API variables the hosting package reads (set in deploy/base/deployment.yaml).</summary>
    public const string PodName = "POD_NAME";

    public const string PodNamespace = "POD_NAMESPACE";

    /// <summary>Set by Kubernetes in every container of a pod.</summary>
    public const string ApiHost = "KUBERNETES_SERVICE_HOST";

    public static bool IsEnabled(SiloOptions cluster) => IsEnabled(cluster, Environment.GetEnvironmentVariable);

    /// <summary>The setting when given; otherwise on only inside a pod that says who it is.</summary>
    public static bool IsEnabled(SiloOptions cluster, Func<string, string?> environment)
        => cluster.Kubernetes ?? new[] { PodName, PodNamespace, ApiHost }.All(v => !string.IsNullOrEmpty(environment(v)));
}
