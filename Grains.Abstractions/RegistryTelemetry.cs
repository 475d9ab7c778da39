using System.Diagnostics.Metrics;

namespace Registry.Grains;

/// <summary>The one meter every process of the registry records its own instruments on.</summary>
public static class RegistryTelemetry
{
    public const string MeterName = "Registry";
}

/// <summary>The registry's meter, created once per process by its meter factory; every instrument class takes it.</summary>
public sealed class RegistryMeter(IMeterFactory meterFactory)
{
    public Meter Meter { get; } = meterFactory.Create(RegistryTelemetry.MeterName);
}
