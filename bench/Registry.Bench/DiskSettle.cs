using System.Diagnostics;

namespace Registry.Bench;

/// <summary>
/// Flushes the page cache before a timed run, so every run starts from the same disk state: a
/// registry that does not fsync would otherwise leave its writeback to the next run (of either
/// registry), and one that does fsync would pay for the other's dirty pages.
/// </summary>
public static class DiskSettle
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    public static async Task WaitAsync(TextWriter log, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        try
        {
            using var sync = Process.Start(new ProcessStartInfo("sync") { UseShellExecute = false })
                ?? throw new InvalidOperationException("sync did not start");
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(Limit);
            await sync.WaitForExitAsync(timeout.Token);
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            log.WriteLine($"  (sync failed or timed out: {e.Message})");
        }

        if (watch.Elapsed > TimeSpan.FromSeconds(2))
        {
            log.WriteLine($"  (sync took {watch.Elapsed.TotalSeconds:F1} s)");
        }
    }
}
