
using System.Diagnostics;

namespace Registry.Api.Events;

/// <summary>
/// One watch's response and its calls to the namespace event log. Heartbeats are written on this
/// process's own clock while a call is outstanding, so a log whose silo died leaves no silence; a
/// call that does not answer within its wait plus <see cref="CallGrace"/> is abandoned and the log
/// asked again (by then usually activated on a survivor), for up to <see cref="RetryBudget"/>.
/// </summary>
internal sealed class WatchConnection(HttpResponse response, TimeSpan heartbeat, string @namespace, ILogger logger, CancellationToken ct)
{
    /// <summary>How late past its wait a call may answer before its silo is taken for gone.</summary>
    public static readonly TimeSpan CallGrace = TimeSpan.FromSeconds(3);

    /// <summary>How long the log may fail before the stream ends (the client reconnects with its last id).</summary>
    public static readonly TimeSpan RetryBudget = TimeSpan.FromMinutes(1);

    private static readonly ReadOnlyMemory<byte> Heartbeat = ": heartbeat\n\n"u8.ToArray();

    private static readonly TimeSpan RetryPause = TimeSpan.FromMilliseconds(500);

    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan _lastWrite;

    public TimeSpan Elapsed => _clock.Elapsed;

    public async Task WriteAsync(ReadOnlyMemory<byte> bytes)
    {
        await response.Body.WriteAsync(bytes, ct);
        await response.Body.FlushAsync(ct);
        _lastWrite = _clock.Elapsed;
    }

    /// <summary>
    /// Calls the log until it answers: a failed or overdue call is asked again after a pause, with
    /// heartbeats going on, until <see cref="RetryBudget"/> is spent (then the failure is thrown).
    /// <paramref name="wait"/> is how long the call itself may take by design (a long poll).
    /// </summary>
    public async Task<T> AskLogAsync<T>(Func<CancellationToken, Task<T>> call, TimeSpan wait)
    {
        TimeSpan? failingSince = null;
        while (true)
        {
            try
            {
                var answer = await AskAsync(call, wait);
                if (failingSince is { } since)
                {
                    EventsLog.WatchLogAnswered(logger, @namespace, (_clock.Elapsed - since).TotalSeconds);
                }

                return answer;
            }
            catch (Exception e) when (!ct.IsCancellationRequested && e is not OutOfMemoryException)
            {
                if (failingSince is null)
                {
                    failingSince = _clock.Elapsed;
                    EventsLog.WatchLogUnanswered(logger, @namespace, e.GetType().Name, e.Message);
                }
                else if (_clock.Elapsed - failingSince >= RetryBudget)
                {
                    throw;
                }

                await AskAsync(
                    async token =>
                    {
                        await Task.Delay(RetryPause, token);
                        return true;
                    },
                    RetryPause);
            }
        }
    }

    /// <summary>One call, with heartbeats while it is outstanding; overdue: abandoned with a <see cref="TimeoutException"/>.</summary>
    private async Task<T> AskAsync<T>(Func<CancellationToken, Task<T>> call, TimeSpan wait)
    {
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var answer = call(abandon.Token);
        var deadline = _clock.Elapsed + wait + CallGrace;
        while (!answer.IsCompleted)
        {
            var now = _clock.Elapsed;
            if (now - _lastWrite >= heartbeat)
            {
                await WriteAsync(Heartbeat);
                continue;
            }

            if (now >= deadline)
            {
                await abandon.CancelAsync();
                _ = answer.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                throw new TimeoutException($"the call did not answer within {(wait + CallGrace).TotalSeconds:F1} s");
            }

            var next = (_lastWrite + heartbeat < deadline ? _lastWrite + heartbeat : deadline) - now;
            using var timer = CancellationTokenSource.CreateLinkedTokenSource(ct);
            await Task.WhenAny(answer, Task.Delay(next, timer.Token));
            await timer.CancelAsync();
            ct.ThrowIfCancellationRequested();
        }

        return await answer;
    }
}
