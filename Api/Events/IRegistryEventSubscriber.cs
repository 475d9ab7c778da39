using Registry.Grains;

namespace Registry.Api.Events;

/// <summary>
/// An in-process consumer of every registry event (push, mount, delete of any repository, made
/// through any replica), and of refused requests (<see cref="RegistryEvent.IsRefusal"/>: actions
/// <c>access.*</c> and <c>login.*</c>, best-effort, within the access audit's budget). Register one with
/// <c>builder.Services.AddRegistryEventSubscriber&lt;T&gt;()</c>; it is a singleton.
/// </summary>
/// <remarks>
/// Events come one at a time, each id once per process (delivery is at least once; the
/// dispatcher drops ids it has recently seen), in order per repository. An exception is logged
/// and the event is not offered again, so a subscriber that must not lose one retries itself.
/// A slow subscriber holds up the ones after it: hand long work to a queue of your own.
/// </remarks>
public interface IRegistryEventSubscriber
{
    Task OnEventAsync(RegistryEvent e, CancellationToken ct);
}
