using System.Diagnostics;

namespace Registry.Silo;

/// <summary>
/// Keeps a collection to its share of the time (<c>Registry:GarbageCollection:DutyCycle</c>): after
/// each slice of work it pauses long enough that working time is that share of the whole, so the
/// collection cannot take the CPU that pushes and pulls need. A collection shorter than one slice
/// never pauses. The collection does one thing at a time, so its CPU is bounded by about one core
/// times the duty cycle. Real time on purpose: pacing is against the machine's load, not test clocks.
/// </summary>
public sealed class CollectionPacer
{
    /// <summary>How long a collection works before it pauses: short enough that pushes never wait long behind it.</summary>
    public static readonly TimeSpan Slice = TimeSpan.FromMilliseconds(20);

    private readonly double _dutyCycle;
    private long _sliceStart = Stopwatch.GetTimestamp();

    public CollectionPacer(double dutyCycle) => _dutyCycle = dutyCycle;

    /// <summary>The time paused so far.</summary>
    public TimeSpan Paused { get; private set; }

    /// <summary>Called between units of work (a listed blob, a repository, a deletion); pauses when the slice is used up.</summary>
    public ValueTask StepAsync(CancellationToken cancellationToken)
    {
        if (_dutyCycle >= 1)
        {
            return ValueTask.CompletedTask;
        }

        var worked = Stopwatch.GetElapsedTime(_sliceStart);
        return worked < Slice ? ValueTask.CompletedTask : PauseAsync(worked, cancellationToken);
    }

    private async ValueTask PauseAsync(TimeSpan worked, CancellationToken cancellationToken)
    {
        var pause = worked * ((1 - _dutyCycle) / _dutyCycle);
        await Task.Delay(pause, cancellationToken);
        Paused += pause;
        _sliceStart = Stopwatch.GetTimestamp();
    }
}
