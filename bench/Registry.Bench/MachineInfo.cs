using System.Globalization;

namespace Registry.Bench;

/// <summary>What the benchmark pages say about the machine they ran on, read from <c>/proc</c>.</summary>
internal static class MachineInfo
{
    /// <summary>The CPU's model name, or "unknown".</summary>
    public static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line is null ? "unknown" : line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    /// <summary>Total memory in GiB, or NaN where <c>/proc/meminfo</c> cannot be read.</summary>
    public static double MemTotalGiB()
    {
        try
        {
            var line = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            return long.Parse(line.AsSpan(9).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) / 1024.0 / 1024.0;
        }
        catch (Exception e) when (e is IOException or FormatException or InvalidOperationException)
        {
            return double.NaN;
        }
    }
}
