using Microsoft.Extensions.Logging;

namespace Registry.Grains;

/// <summary>
/// Keeps a repository's namespace usage (<see cref="INamespaceUsageGrain"/>) in step with what the
/// repository holds: its blob links and its manifests. A change that starts holding a digest is
/// admitted by the namespace before it is applied; one that stops holding it is released after.
/// Such changes take turns (<see cref="EnterAsync"/>), so the namespace hears of one repository's
/// changes in the order they happened and the admission's await lets no other change of what the
/// repository holds in between its checks and its change. One grain call per digest the
/// repository starts or stops holding; none for a link it holds already.
/// </summary>
public sealed class RepositoryUsage(string repository, Func<IGrainFactory> grains, ILogger logger)
{
    private readonly SemaphoreSlim _turn = new(1, 1);

    private INamespaceUsageGrain Namespace => grains().GetGrain<INamespaceUsageGrain>(QuotaNamespaces.Of(repository));

    /// <summary>Waits for this change's turn; disposing the result ends it. Never held across a state write.</summary>
    public async Task<IDisposable> EnterAsync()
    {
        await _turn.WaitAsync();
        return new Turn(_turn);
    }

    /// <summary>Admits <paramref name="digest"/> before <paramref name="state"/> holds it; null when admitted (or held already).</summary>
    public Task<QuotaRefusal?> AdmitAsync(RepositoryState state, string digest, long size)
        => state.Holds(digest) ? Task.FromResult<QuotaRefusal?>(null) : Namespace.Admit(repository, digest, size);

    /// <summary>Admits a manifest's bytes, as a push refusal when they exceed the quota.</summary>
    public async Task<ManifestPushResult?> AdmitAsync(RepositoryState state, ManifestPush push)
        => Refused(state, await AdmitAsync(state, push.Manifest.Digest, push.Manifest.Size));

    /// <summary>What <see cref="AdmitAsync(RepositoryState, ManifestPush)"/> would answer now, admitting nothing.</summary>
    public async ValueTask<ManifestPushResult?> CheckAsync(RepositoryState state, ManifestPush push)
        => state.Holds(push.Manifest.Digest) ? null : Refused(state, await Namespace.Check(repository, push.Manifest.Digest, push.Manifest.Size));

    private static ManifestPushResult? Refused(RepositoryState state, QuotaRefusal? refusal)
        => refusal is null ? null : new ManifestPushResult(ManifestPushOutcome.QuotaExceeded, null, state.Generation, Quota: refusal);

    /// <summary>
    /// Releases <paramref name="digest"/> once <paramref name="state"/> no longer holds it. A release
    /// that fails leaves the namespace counting it (never less than is held); a recount repairs it.
    /// </summary>
    public async Task ReleaseAsync(RepositoryState state, string digest)
    {
        if (state.Holds(digest))
        {
            return;
        }

        try
        {
            await Namespace.Release(repository, digest);
        }
        catch (Exception e)
        {
            RepositoryUsageLog.ReleaseFailed(logger, e, repository, digest);
        }
    }

    /// <summary>
    /// Releases everything once <paramref name="state"/> holds nothing (a whole repository deleted,
    /// within the turn): one call however many digests it held.
    /// </summary>
    public async Task ReleaseAllAsync(RepositoryState state)
    {
        if (state.Blobs.Count > 0 || state.Manifests.Count > 0)
        {
            return;
        }

        try
        {
            await Namespace.ReleaseRepository(repository);
        }
        catch (Exception e)
        {
            RepositoryUsageLog.ReleaseFailed(logger, e, repository, "*");
        }
    }

    private sealed class Turn(SemaphoreSlim turn) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                turn.Release();
            }
        }
    }
}

public static class RepositoryHoldings
{
    /// <summary>Whether the repository holds <paramref name="digest"/>: as a blob link or as a manifest.</summary>
    public static bool Holds(this RepositoryState state, string digest)
        => state.Blobs.ContainsKey(digest) || state.Manifests.ContainsKey(digest);

    /// <summary>Every digest the repository holds with its size: what its namespace's usage counts.</summary>
    public static Dictionary<string, long> HeldDigests(this RepositoryState state)
    {
        var held = new Dictionary<string, long>(state.Blobs, StringComparer.Ordinal);
        foreach (var (digest, manifest) in state.Manifests)
        {
            held.TryAdd(digest, manifest.Size);
        }

        return held;
    }
}

internal static partial class RepositoryUsageLog
{
    [LoggerMessage(1, LogLevel.Warning, "Could not tell the namespace that {Repository} no longer holds {Digest}; its usage counts it until a recount")]
    public static partial void ReleaseFailed(ILogger logger, Exception exception, string repository, string digest);
}
