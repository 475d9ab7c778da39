using System.Globalization;

namespace Registry.Bench;

/// <summary>Machine-wide CPU figures from <c>/proc</c>, to tell a quiet run from a disturbed one.</summary>
public static class SystemCpu
{
    private const double ClockTicksPerSecond = 100; // USER_HZ on Linux

    /// <summary>Busy CPU seconds of all cores since boot (user, nice, system, irq, softirq, steal).</summary>
    public static double BusySeconds()
    {
        try
        {
            var line = File.ReadLines("/proc/stat").First(l => l.StartsWith("cpu ", StringComparison.Ordinal));
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            long busy = 0;
            foreach (var i in new[] { 1, 2, 3, 6, 7, 8 })
            {
                busy += long.Parse(f[i], CultureInfo.InvariantCulture);
            }

            return busy / ClockTicksPerSecond;
        }
        catch (Exception e) when (e is IOException or FormatException or InvalidOperationException or IndexOutOfRangeException)
        {
            return double.NaN;
        }
    }

    /// <summary>The 1, 5 and 15 minute load averages as the kernel prints them.</summary>
    public static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}
