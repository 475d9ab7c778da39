namespace Registry.Tests;

/// <summary>
/// Runs test code one turn at a time, as a grain's scheduler runs a grain: every continuation of the
/// body goes back to one exclusive scheduler, so components written for a grain can be driven
/// in-process without Orleans.
/// </summary>
public static class GrainTurns
{
    public static Task RunAsync(Func<Task> body)
        => Task.Factory.StartNew(body, CancellationToken.None, TaskCreationOptions.None, new ConcurrentExclusiveSchedulerPair().ExclusiveScheduler).Unwrap();
}

/// <summary>A state write that completes or fails when the test says so, one at a time in the order they started.</summary>
public sealed class GatedWrites
{
    private readonly Queue<TaskCompletionSource> _gates = new();
    private readonly List<(int Count, TaskCompletionSource Signal)> _waiters = [];

    public int Started { get; private set; }

    public async Task WriteAsync()
    {
        Started++;
        var gate = new TaskCompletionSource();
        _gates.Enqueue(gate);
        foreach (var waiter in _waiters.Where(w => w.Count <= Started).ToList())
        {
            _waiters.Remove(waiter);
            waiter.Signal.SetResult();
        }

        await gate.Task;
    }

    /// <summary>Completes once <paramref name="count"/> writes have started.</summary>
    public Task StartedAsync(int count)
    {
        if (Started >= count)
        {
            return Task.CompletedTask;
        }

        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiters.Add((count, signal));
        return signal.Task;
    }

    public void CompleteNext() => _gates.Dequeue().SetResult();

    public void FailNext(Exception exception) => _gates.Dequeue().SetException(exception);
}
