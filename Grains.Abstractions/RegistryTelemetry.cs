namespace Registry.Grains;

/// <summary>The one meter every process of the registry records its own instruments on.</summary>
public static class RegistryTelemetry
{
    public const string MeterName = "Registry";
}
