namespace Registry.Grains;

/// <summary>
/// One collection's work over storage and the repositories; implemented by the silo's composition,
/// which holds the storage driver. <see cref="IGarbageCollectionGrain"/> decides when.
/// </summary>
public interface IGarbageCollector
{
    Task<GarbageCollectionReport> CollectAsync(GarbageCollectionRun run, DateTimeOffset now, CancellationToken cancellationToken);
}
