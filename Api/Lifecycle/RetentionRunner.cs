using System.Runtime.CompilerServices;
using Registry.Api.Access;
using Registry.Grains;

namespace Registry.Api.Lifecycle;

/// <summary>What one run of a policy did (or, dry, would do), per repository it changed.</summary>
public sealed record RetentionRunReport(
    DateTimeOffset StartedAt,
    DateTimeOffset FinishedAt,
    int RepositoriesExamined,
    IReadOnlyList<(string Repository, RetentionResult Result)> Changed);

/// <summary>
/// Runs a retention policy: visits the catalog's repositories its globs match (a namespace's
/// policy only that namespace's, globs relative to it), one at a time, and asks each repository
/// grain to apply the rules (<see cref="IRepositoryGrain.ApplyRetention"/>) with the immutable tag
/// rules that protect its tags and the run's one clock.
/// </summary>
public sealed partial class RetentionRunner(IGrainFactory grains, ImmutableTagLookup immutable, ILogger<RetentionRunner> logger)
{
    private const int CatalogPage = 1000;

    public async Task<RetentionRunReport> RunAsync(string? ns, RetentionPolicy policy, bool dryRun, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var started = DateTimeOffset.UtcNow;
        var changed = new List<(string, RetentionResult)>();
        var examined = 0;
        await foreach (var repository in RepositoriesAsync(ns, policy.Repositories, cancellationToken))
        {
            examined++;
            var protecting = await immutable.ForRepositoryAsync(repository);
            var result = await grains.GetGrain<IRepositoryGrain>(repository).ApplyRetention(new RetentionRequest(policy.Rules, protecting, now, dryRun));
            if (!result.IsEmpty || result.UntaggedSkipped)
            {
                changed.Add((repository, result));
                if (!dryRun && !result.IsEmpty)
                {
                    LogApplied(logger, policy.Name, ns ?? "(registry)", repository, result.Tags.Count, result.History.Count, result.Manifests.Count);
                }
            }
        }

        return new RetentionRunReport(started, DateTimeOffset.UtcNow, examined, changed);
    }

    /// <summary>The repositories of the scope whose name (within the namespace, for a namespace's policy) matches a glob, in catalog order.</summary>
    private async IAsyncEnumerable<string> RepositoriesAsync(string? ns, IReadOnlyList<string> globs, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var within = ns is null ? null : ns + "/";

        // Just before the namespace's own name in ordinal order, so a repository named as the namespace is listed too.
        string? last = ns is null ? null : ns[..^1] + (char)(ns[^1] - 1) + "\uffff";
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var page = await RegistryCatalog.ListAsync(grains, last, CatalogPage);
            foreach (var name in page.Names)
            {
                if (within is not null)
                {
                    if (name != ns && !name.StartsWith(within, StringComparison.Ordinal))
                    {
                        // Names between the namespace and "ns/" (such as "ns-x") are skipped; past "ns/…" the namespace is done.
                        if (string.CompareOrdinal(name, within) > 0)
                        {
                            yield break;
                        }

                        continue;
                    }
                }

                var relative = ns is null ? name : ImmutableTagLookup.RelativeName(name);
                if (globs.Any(g => Glob.IsMatch(g, relative)))
                {
                    yield return name;
                }
            }

            if (!page.More || page.Names.Count == 0)
            {
                yield break;
            }

            last = page.Names[^1];
        }
    }

    [LoggerMessage(161, LogLevel.Information, "Retention policy {Policy} of {Scope} applied to {Repository}: {Tags} tags, {History} history entries and {Manifests} manifests deleted")]
    private static partial void LogApplied(ILogger logger, string policy, string scope, string repository, int tags, int history, int manifests);
}
