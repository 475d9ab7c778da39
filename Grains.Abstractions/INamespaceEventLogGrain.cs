using Orleans.Concurrency;

namespace Registry.Grains;

/// <summary>
/// The recent events of one namespace, numbered. Keyed like the namespace stream
/// (<see cref="RegistryStreams.OfNamespace"/>): the namespace, or <c>_</c> for single-component
/// repository names. It consumes that stream through an implicit subscription, drops event ids it
/// has seen, gives every new event the next sequence number (1, 2, …) and keeps the last events in
/// grain state, so watch clients on any replica can resume from the last number they saw.
/// </summary>
[Alias("registry.namespace-event-log")]
public interface INamespaceEventLogGrain : IGrainWithStringKey
{
    /// <summary>
    /// Up to <paramref name="max"/> events numbered after <paramref name="sequence"/>, oldest first.
    /// When events after <paramref name="sequence"/> are no longer kept, or the number is beyond
    /// the last one, the page says <see cref="EventLogPage.Gap"/> and starts at the oldest kept
    /// (or is empty, positioned at the last one).
    /// </summary>
    [RetryOnFailover]
    [Alias("read-after")]
    Task<EventLogPage> ReadAfter(long sequence, int max);

    /// <summary>
    /// Completes with the last sequence number once it is beyond <paramref name="sequence"/>, or
    /// after <paramref name="timeout"/> (at most 25 s), when the caller cancels or when the silo
    /// stops, with whatever it is then (a long poll).
    /// </summary>
    [AlwaysInterleave, Alias("wait-after")]
    Task<long> WaitAfter(long sequence, TimeSpan timeout, CancellationToken cancellationToken = default);

    /// <summary>The number of the last event kept (0 before the first).</summary>
    [RetryOnFailover]
    [AlwaysInterleave, Alias("last-sequence")]
    Task<long> GetLastSequence();
}

/// <summary>An event with its per-namespace sequence number.</summary>
[GenerateSerializer, Immutable, Alias("registry.logged-event")]
public sealed record LoggedEvent([property: Id(0)] long Sequence, [property: Id(1)] RegistryEvent Event);

/// <param name="Events">The events, oldest first.</param>
/// <param name="First">The oldest sequence number kept (<paramref name="Last"/> + 1 when none is).</param>
/// <param name="Last">The last sequence number given out.</param>
/// <param name="Gap">Whether events after the requested number were dropped, or the number was beyond <paramref name="Last"/>.</param>
[GenerateSerializer, Immutable, Alias("registry.event-log-page")]
public sealed record EventLogPage(
    [property: Id(0)] IReadOnlyList<LoggedEvent> Events,
    [property: Id(1)] long First,
    [property: Id(2)] long Last,
    [property: Id(3)] bool Gap);
