using Microsoft.Extensions.DependencyInjection;

namespace Registry.Grains;

/// <summary>Retention (docs/retention.md): pull times, and a policy's deletions decided in one turn (<see cref="RepositoryRetention"/>).</summary>
public sealed partial class RepositoryGrain
{
    public async Task RecordPulls(IReadOnlyDictionary<string, DateTimeOffset> pulls)
    {
        // No event: a pull changes nothing a consumer sees. The write shares a group commit with concurrent changes.
        if (RepositoryRetention.RecordPulls(S, pulls))
        {
            await _commit.CommitAsync();

            // Not a crash point of the test hosts' faults (those are for changes with events): counted on its own.
            ServiceProvider.GetService<RetentionMetrics>()?.PullsWritten();
        }
    }

    public async Task<RetentionResult> ApplyRetention(RetentionRequest request)
    {
        if (S.IsEmpty)
        {
            return RetentionResult.Nothing;
        }

        RetentionResult plan;
        using (await _usage.EnterAsync())
        {
            // Decided and applied in this turn: a push that lands first is judged, one after is untouched.
            plan = RepositoryRetention.Plan(S, request);
            if (request.DryRun || plan.IsEmpty)
            {
                return plan;
            }

            var deletes = 0;
            RepositoryRetention.Apply(S, plan, (mediaType, digest, size, tag) =>
            {
                deletes++;
                Emit(RegistryEvent.Delete, mediaType, digest, size, tag);
            });
            _tags.Changed();
            S.Generation++;
            if (deletes == 0)
            {
                // Only tag history went: the stream's status changed all the same, and watchers of
                // image streams learn it from this event (a MODIFIED with the pruned history).
                Emit(SpecTagRules.ImageStreamChanged, null, null, 0, null);
            }

            foreach (var digest in plan.Manifests)
            {
                await _usage.ReleaseAsync(S, digest);
            }
        }

        await SaveAndPublishAsync();
        return plan;
    }
}
