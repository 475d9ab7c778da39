namespace Registry.Grains;

/// <summary>
/// Expires upload sessions not finished in time and removes their staged bytes. Implemented by the
/// byte path (the silo's composition gives it the storage); <see cref="MaintenanceGrain"/> decides when.
/// </summary>
public interface IUploadSweeper
{
    /// <summary>One sweep as if the time were <paramref name="now"/>; returns how many sessions expired.</summary>
    Task<int> SweepAsync(DateTimeOffset now, CancellationToken cancellationToken);
}
