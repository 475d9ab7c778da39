namespace Registry.Grains;

/// <summary>What <see cref="RepositoryCatalogEntry.MarkRemovedIfEmpty"/> found.</summary>
public enum CatalogRemoval
{
    /// <summary>The repository holds something: it stays listed.</summary>
    NotEmpty,

    /// <summary>Empty and never listed (never written): nothing to do.</summary>
    NeverListed,

    /// <summary>Empty, and listed until now: it leaves the catalog with the next state write.</summary>
    Unlisting,

    /// <summary>Empty and unlisted already; the catalog is told again (a crash may have left the name there).</summary>
    Unlisted,
}

/// <summary>
/// Keeps a repository's place in the catalog in step with its content, for its grain: listed
/// before a state with content is stored (so a collection's mark, which visits the catalog, sees
/// every reference), unlisted once it is found empty. Both happen inside the grain's state writes,
/// which <see cref="GroupCommit"/> runs one at a time, so an add and a remove of one name never race.
/// </summary>
/// <remarks>
/// Unlisting stores <see cref="RepositoryState.InCatalog"/> = false first and removes the name
/// after: a crash in between leaves an empty repository listed (harmless; the next collection
/// removes it again), never a repository with content unlisted. A push that lands while the
/// name is being removed makes the next write list it again before storing the push.
/// </remarks>
public sealed class RepositoryCatalogEntry(string name, Func<RepositoryState> state, Func<IGrainFactory> grains, TimeProvider time)
{
    private bool _removalPending;

    /// <summary>
    /// Decided in the repository's turn: when it is empty, it is marked unlisted, and the next
    /// state write removes its name from the catalog (unless a change gives it content first).
    /// </summary>
    public CatalogRemoval MarkRemovedIfEmpty()
    {
        var s = state();
        if (!s.IsEmpty)
        {
            return CatalogRemoval.NotEmpty;
        }

        if (!s.InCatalog && s.Created is null)
        {
            return CatalogRemoval.NeverListed;
        }

        _removalPending = true;
        var listed = s.InCatalog;
        s.InCatalog = false;
        return listed ? CatalogRemoval.Unlisting : CatalogRemoval.Unlisted;
    }

    /// <summary>
    /// At activation: a state with content that is not listed (a crash between an unlisting's write
    /// and a push's) is listed again before anything else reads it.
    /// </summary>
    public async Task ActivateAsync()
    {
        var s = state();
        if (!s.InCatalog && !s.IsEmpty)
        {
            await RegistryCatalog.AddAsync(grains(), name);
            s.InCatalog = true;
        }
    }

    /// <summary>
    /// Runs one state write (<paramref name="write"/>): lists the repository first when the state
    /// has content and is not listed; removes the name afterwards when an unlisting is pending.
    /// </summary>
    public async Task WriteAsync(Func<Task> write)
    {
        var s = state();
        if (!s.InCatalog && !s.IsEmpty)
        {
            s.Created ??= time.GetUtcNow();
            await RegistryCatalog.AddAsync(grains(), name);
            s.InCatalog = true;
        }

        var remove = _removalPending && !s.InCatalog;
        _removalPending = false;
        await write();
        if (remove)
        {
            await RegistryCatalog.RemoveAsync(grains(), name);
        }
    }
}
