using System.Globalization;

namespace Registry.Bench;

/// <summary>One reading of a process from <c>/proc</c>.</summary>
public readonly record struct ProcessSample(long VmRssKiB, long VmHwmKiB, double CpuSeconds);

/// <summary>
/// Watches the registry process through <c>/proc/PID</c>: VmHWM (the kernel's own peak RSS),
/// a 100 ms VmRSS sampler as a cross-check, and user+system CPU time per phase.
/// </summary>
public sealed class ProcessProbe : IAsyncDisposable
{
    private const double ClockTicksPerSecond = 100; // USER_HZ on Linux
    private readonly int _pid;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sampler;
    private long _maxSampledRssKiB;

    public ProcessProbe(int pid)
    {
        _pid = pid;
        if (Read() is null)
        {
            throw new BenchException($"cannot read /proc/{pid}/status: is the registry process {pid} running on this machine?");
        }

        _sampler = SampleAsync(_stop.Token);
    }

    public long MaxSampledRssKiB => Interlocked.Read(ref _maxSampledRssKiB);

    public ProcessSample? Read()
    {
        try
        {
            long rss = 0, hwm = 0;
            foreach (var line in File.ReadLines($"/proc/{_pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    rss = ParseKiB(line);
                }
                else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    hwm = ParseKiB(line);
                }
            }

            // Fields after the ")" closing the command name: state is field 3, utime 14, stime 15.
            var stat = File.ReadAllText($"/proc/{_pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return new ProcessSample(rss, hwm, ticks / ClockTicksPerSecond);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    private async Task SampleAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                if (Read() is { } sample && sample.VmRssKiB > Interlocked.Read(ref _maxSampledRssKiB))
                {
                    Interlocked.Exchange(ref _maxSampledRssKiB, sample.VmRssKiB);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static long ParseKiB(string line)
        => long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _sampler;
        _stop.Dispose();
    }
}
