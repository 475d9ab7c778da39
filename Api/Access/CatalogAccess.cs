using System.Runtime.CompilerServices;
using Registry.Grains;

namespace Registry.Api.Access;

/// <summary>
/// What of the repository list a caller may see: <c>_catalog</c> lists only the repositories the
/// caller may pull (every one for a <c>registry:catalog:*</c> token or a registry admin), and a
/// mount without <c>from</c> only takes a blob from a repository the caller may pull.
/// </summary>
public sealed class CatalogAccess(AccessGate gate, Authorizer authorizer, IGrainFactory grains)
{
    /// <summary>How many repositories a mount without <c>from</c> asks for the blob before it gives up and starts a normal upload.</summary>
    public const int MountSearchLimit = 32;

    private const int ScanPage = 500;

    /// <summary>
    /// Which repositories the admitted caller may see; null: all of them (access control off,
    /// a catalog token, an admin). A bearer token without <c>registry:catalog:*</c> lists by its
    /// subject's current policy, as Basic credentials of the same account would.
    /// </summary>
    public async ValueTask<Func<string, ValueTask<bool>>?> FilterAsync(HttpContext context)
    {
        if (!gate.Enabled || AccessGate.CallerOf(context) is not { } caller)
        {
            return null;
        }

        if (caller.Token is { } token && token.Covers(AccessItem.Catalog))
        {
            return null;
        }

        if (await gate.ByPolicyAsync(caller) is not { } byPolicy)
        {
            return static _ => ValueTask.FromResult(false);
        }

        var identity = byPolicy.Identity;
        return await authorizer.AllowsAsync(identity, AccessItem.Catalog)
            ? null
            : name => authorizer.AllowsAsync(identity, AccessItem.Repo(name, Actions.Pull));
    }

    /// <summary>The names after <paramref name="last"/> that pass <paramref name="filter"/>, in catalog order, read a page at a time.</summary>
    public async IAsyncEnumerable<string> ListAsync(string? last, Func<string, ValueTask<bool>>? filter, [EnumeratorCancellation] CancellationToken ct = default)
    {
        while (true)
        {
            var page = await RegistryCatalog.ListAsync(grains, last, ScanPage);
            foreach (var name in page.Names)
            {
                if (filter is null || await filter(name))
                {
                    yield return name;
                }
            }

            if (!page.More || page.Names.Count == 0)
            {
                yield break;
            }

            ct.ThrowIfCancellationRequested();
            last = page.Names[^1];
        }
    }

    /// <summary>
    /// For a mount without <c>from</c> by a caller that may not pull everything: a repository
    /// passing <paramref name="filter"/> that holds <paramref name="digest"/>, searched among the
    /// first <see cref="MountSearchLimit"/> such repositories from the target's own namespace on;
    /// null when none was found (the upload then starts as a normal one).
    /// </summary>
    public async Task<string?> MountSourceAsync(string target, string digest, Func<string, ValueTask<bool>> filter, CancellationToken ct)
    {
        var asked = 0;
        var ns = Authorizer.NamespaceOf(target);

        // Names of the target's namespace sort right after the namespace itself.
        await foreach (var name in ListAsync(ns == target ? null : ns, filter, ct))
        {
            if (name != target && await grains.GetGrain<IRepositoryGrain>(name).GetBlobSize(digest) is not null)
            {
                return name;
            }

            if (++asked >= MountSearchLimit)
            {
                break;
            }
        }

        return null;
    }
}
