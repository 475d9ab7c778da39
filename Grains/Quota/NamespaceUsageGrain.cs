using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace Registry.Grains;

[GenerateSerializer, Alias("registry.quota-state")]
public sealed class QuotaState
{
    [Id(0)] public QuotaLimits? Limits { get; set; }

    /// <summary>Raised by every change and kept when the quota is removed, so a new one never repeats a version.</summary>
    [Id(1)] public long Version { get; set; }

    [Id(2)] public DateTimeOffset? Created { get; set; }
}

/// <summary>
/// A namespace's usage and quota (<see cref="INamespaceUsageGrain"/>). Only the limits are stored:
/// the usage is counted from the repositories' states when the grain activates and then kept in
/// step by their admissions and releases, so a crash anywhere loses no count. Not reentrant: an
/// admission checks and records in one sitting, so concurrent pushes never both take the last bytes.
/// </summary>
[CollectionAgeLimit(Minutes = 24 * 60)]
public sealed class NamespaceUsageGrain(
    [PersistentState("quota", GrainStorageNames.Provider)] IPersistentState<QuotaState> state,
    TimeProvider time,
    ILogger<NamespaceUsageGrain> logger,
    QuotaMetrics? metrics = null) : Grain, INamespaceUsageGrain
{
    /// <summary>How many repositories a count reads at once.</summary>
    private const int CountParallelism = 16;

    private UsageLedger _ledger = new();

    private string Namespace => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _ledger = await CountAsync();
        Reported();
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics?.Forget(Namespace);
        return Task.CompletedTask;
    }

    public Task<QuotaRefusal?> Admit(string repository, string digest, long size)
    {
        if (Refusal(repository, digest, size) is { } refused)
        {
            return Task.FromResult<QuotaRefusal?>(refused);
        }

        _ledger.Add(repository, digest, size);
        Reported();
        return Task.FromResult<QuotaRefusal?>(null);
    }

    public Task<QuotaRefusal?> Check(string repository, string digest, long size) => Task.FromResult(Refusal(repository, digest, size));

    public Task Release(string repository, string digest)
    {
        _ledger.Remove(repository, digest);
        Reported();
        return Task.CompletedTask;
    }

    public Task ReleaseRepository(string repository)
    {
        _ledger.RemoveRepository(repository);
        Reported();
        return Task.CompletedTask;
    }

    public Task<NamespaceQuota> GetQuota() => Task.FromResult(Snapshot());

    public async Task<QuotaChange> PutQuota(QuotaLimits? limits, long? expectedVersion)
    {
        var s = state.State;
        if (expectedVersion is { } expected && expected != s.Version)
        {
            return new QuotaChange(QuotaChangeOutcome.Conflict, Snapshot());
        }

        if (limits is null && s.Limits is null)
        {
            return new QuotaChange(QuotaChangeOutcome.NotFound, Snapshot());
        }

        s.Created = limits is null ? null : s.Limits is null ? time.GetUtcNow() : s.Created;
        s.Limits = limits;
        s.Version++;
        await state.WriteStateAsync();
        return new QuotaChange(QuotaChangeOutcome.Done, Snapshot());
    }

    public async Task<UsageRecount> Recount(bool repair)
    {
        var tracked = _ledger.Usage;
        var counted = await CountAsync();
        if (repair)
        {
            if (counted.Usage != tracked)
            {
                QuotaLog.UsageRepaired(logger, Namespace, tracked.StorageBytes, counted.Bytes, tracked.Repositories, counted.Repositories);
            }

            _ledger = counted;
            Reported();
        }

        return new UsageRecount(tracked, counted.Usage);
    }

    /// <summary>
    /// Why holding <paramref name="digest"/> would exceed the quota: a repository new to the
    /// namespace beyond the count, or bytes new to it beyond the storage limit. A digest the
    /// namespace holds already adds nothing, so it is admitted even above a lowered limit.
    /// </summary>
    private QuotaRefusal? Refusal(string repository, string digest, long size)
    {
        if (_ledger.Holds(repository, digest) || state.State.Limits is not { } limits)
        {
            return null;
        }

        if (limits.Repositories is { } repositories && !_ledger.HoldsAnything(repository) && _ledger.Repositories >= repositories)
        {
            return new QuotaRefusal(Namespace, QuotaResource.Repositories, repositories, _ledger.Repositories, 1);
        }

        var growth = _ledger.Growth(digest, size);
        return limits.StorageBytes is { } bytes && growth > 0 && _ledger.Bytes + growth > bytes
            ? new QuotaRefusal(Namespace, QuotaResource.StorageBytes, bytes, _ledger.Bytes, growth)
            : null;
    }

    private NamespaceQuota Snapshot() => new(state.State.Limits, state.State.Version, _ledger.Usage, state.State.Created);

    private void Reported() => metrics?.Report(Namespace, _ledger.Usage);

    /// <summary>Counts what the namespace's repositories hold, from their states (the catalog names them).</summary>
    private async Task<UsageLedger> CountAsync()
    {
        var ledger = new UsageLedger();
        await foreach (var names in RepositoriesAsync())
        {
            foreach (var batch in names.Chunk(CountParallelism))
            {
                var held = await Task.WhenAll(batch.Select(async n => (Name: n, Digests: await GrainFactory.GetGrain<IRepositoryGrain>(n).GetHeldDigests())));
                foreach (var (name, digests) in held)
                {
                    foreach (var (digest, size) in digests)
                    {
                        ledger.Add(name, digest, size);
                    }
                }
            }
        }

        return ledger;
    }

    /// <summary>
    /// The catalog's names in this namespace (the namespace itself, then <c>ns/…</c>), a page at
    /// a time: they are contiguous in the catalog's ordinal order, which starts just before the
    /// namespace's name and stops past <c>ns/</c>.
    /// </summary>
    private async IAsyncEnumerable<IReadOnlyList<string>> RepositoriesAsync()
    {
        var ns = Namespace;
        var prefix = ns + "/";
        var end = ns + "0"; // '0' follows '/' in ordinal order
        string? last = ns[..^1] + (char)(ns[^1] - 1) + char.MaxValue;
        while (last is not null)
        {
            var page = await RegistryCatalog.ListAsync(GrainFactory, last, 1000);
            var names = page.Names.TakeWhile(n => string.CompareOrdinal(n, end) < 0).ToList();
            yield return names.Where(n => n == ns || n.StartsWith(prefix, StringComparison.Ordinal)).ToList();
            last = page.More && names.Count == page.Names.Count && names.Count > 0 ? names[^1] : null;
        }
    }
}

internal static partial class QuotaLog
{
    [LoggerMessage(1, LogLevel.Warning, "The usage of namespace {Namespace} was repaired: {TrackedBytes} bytes tracked, {CountedBytes} counted; {TrackedRepositories} repositories tracked, {CountedRepositories} counted")]
    public static partial void UsageRepaired(ILogger logger, string @namespace, long trackedBytes, long countedBytes, int trackedRepositories, int countedRepositories);
}
