using Orleans.Serialization;
using Orleans.Serialization.Invocation;

namespace Registry.Silo.Failover;

/// <summary>
/// The arguments of a grain call as its first attempt was to send them, to send them again on a retry.
/// </summary>
/// <remarks>
/// Needed because an attempt delivered to an activation on this silo is not serialized: the target
/// runs the caller's own request object and then disposes it, which clears its argument fields
/// (Orleans 10.4.2: <c>InsideRuntimeClient.Invoke</c> calls <c>IInvokable.Dispose</c> before sending
/// the response), so invoking the same context again would send nulls and zeros. The request is not
/// pooled (generated proxies create one per call; <c>InvokablePool</c> is unused), and its answer
/// comes after that dispose, so the caller owns it again when it retries. Deep copies, taken before
/// the first attempt and again for each retry, keep what a local grain keeps or changes of its
/// arguments out of the next attempt; immutable arguments are not copied.
/// </remarks>
internal sealed class CallArguments
{
    private readonly object?[] _values;

    private CallArguments(object?[] values) => _values = values;

    public static CallArguments Of(IInvokable request, DeepCopier copier)
    {
        var values = new object?[request.GetArgumentCount()];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = Copy(request.GetArgument(i), copier);
        }

        return new CallArguments(values);
    }

    public void RestoreInto(IInvokable request, DeepCopier copier)
    {
        for (var i = 0; i < _values.Length; i++)
        {
            request.SetArgument(i, Copy(_values[i], copier)!);
        }
    }

    /// <summary>Cancellation tokens belong to the call, not to its data: they are passed on as they are.</summary>
    private static object? Copy(object? value, DeepCopier copier)
        => value is null or CancellationToken or GrainCancellationToken ? value : copier.Copy(value);
}
