using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Registry.Grains;

namespace Registry.Api.Access;

/// <summary>
/// Every process's copy of the policies it has used, kept fresh by polling the cluster's change
/// log (<see cref="IPolicyVersionGrain"/>) every <see cref="AccessOptions.PolicyRefreshInterval"/>
/// and refetching the scopes that changed, so a change made through any replica is enforced by
/// every replica within about one interval plus one grain call. A cached policy costs no grain
/// call. It is trusted only while polling works and for at most <see cref="MaxAge"/>: otherwise a
/// decision reads the grain again.
/// </summary>
public sealed partial class PolicyCache(IGrainFactory grains, IOptions<AccessOptions> options, ILogger<PolicyCache> logger) : BackgroundService
{
    /// <summary>How long an entry is used without being read again, in case its change was announced to no one (the announcement failed after the write).</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromMinutes(1);

    /// <summary>The most scopes cached; past it the cache starts afresh (names in requests are anyone's choice).</summary>
    public const int Capacity = 50_000;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _announced = new(StringComparer.Ordinal);
    private readonly TimeSpan _interval = options.Value.PolicyRefreshInterval;
    private readonly long _trustMs = (long)Math.Max(2000, options.Value.PolicyRefreshInterval.TotalMilliseconds * 8);
    private long _lastPoll = long.MinValue / 2;
    private int _generation;
    private Guid _epoch;
    private long _sequence;

    /// <summary>How many polls ran, and how many scopes were refetched because they changed (for tests and diagnostics).</summary>
    public long Polls { get; private set; }

    public long Refetches { get; private set; }

    /// <summary>The cached policy of <paramref name="scope"/>, when it may be trusted now.</summary>
    public bool TryGet(string scope, out ScopePolicy policy)
    {
        var now = Environment.TickCount64;
        if (now - Volatile.Read(ref _lastPoll) < _trustMs && _entries.TryGetValue(scope, out var entry) && now - entry.FetchedAt < MaxAge.TotalMilliseconds)
        {
            policy = entry.Policy;
            return true;
        }

        policy = null!;
        return false;
    }

    public ValueTask<ScopePolicy> GetAsync(string scope) => TryGet(scope, out var policy) ? ValueTask.FromResult(policy) : new(FetchAsync(scope));

    /// <summary>Takes a policy a change returned, so this process enforces it from the next request on.</summary>
    public void Put(ScopePolicy policy) => Store(policy, Volatile.Read(ref _generation));

    private async Task<ScopePolicy> FetchAsync(string scope)
    {
        for (var attempt = 0; ; attempt++)
        {
            var generation = Volatile.Read(ref _generation);
            var policy = await grains.GetGrain<IPolicyGrain>(scope).Get();

            // A newer version was announced while this read was under way: read again rather than cache an old one.
            if (attempt < 3 && _announced.TryGetValue(scope, out var announced) && policy.Version < announced)
            {
                continue;
            }

            Store(policy, generation);
            return policy;
        }
    }

    private void Store(ScopePolicy policy, int generation)
    {
        if (generation != Volatile.Read(ref _generation))
        {
            return;
        }

        if (_entries.Count >= Capacity)
        {
            Reset();
            return;
        }

        var entry = new Entry(policy, Environment.TickCount64);
        _entries.AddOrUpdate(policy.Scope, entry, (_, old) => old.Policy.Version > policy.Version ? old : entry);
    }

    private void Reset()
    {
        Interlocked.Increment(ref _generation);
        _entries.Clear();
        _announced.Clear();
    }

    /// <summary>One poll of the change log: refetches what changed, or drops everything when the log cannot say.</summary>
    public async Task PollAsync()
    {
        var changes = await grains.GetGrain<IPolicyVersionGrain>(0).Since(_epoch, _sequence);
        if (changes.Changes is null)
        {
            Reset();
        }
        else
        {
            var refetch = new List<Task>();
            foreach (var (scope, version, _) in changes.Changes)
            {
                _announced.AddOrUpdate(scope, version, (_, old) => Math.Max(old, version));
                if (_entries.TryGetValue(scope, out var entry) && entry.Policy.Version < version)
                {
                    refetch.Add(RefetchAsync(scope));
                }
            }

            await Task.WhenAll(refetch);
            if (_announced.Count > Capacity)
            {
                Reset();
            }
        }

        await RefreshTagRuleScopesAsync(changes.Changes);
        _epoch = changes.Epoch;
        _sequence = changes.Sequence;
        Polls++;
        Volatile.Write(ref _lastPoll, Environment.TickCount64);
    }

    private async Task RefetchAsync(string scope)
    {
        try
        {
            Store(await grains.GetGrain<IPolicyGrain>(scope).Get(), Volatile.Read(ref _generation));
            Refetches++;
        }
        catch (Exception e)
        {
            // Not trusted any more: the next decision reads the grain.
            _entries.TryRemove(scope, out _);
            LogRefetchFailed(logger, scope, e.Message);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_interval);
        try
        {
            do
            {
                try
                {
                    await PollAsync();
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    // Until a poll succeeds again, cached policy goes untrusted (after a few intervals) and decisions read the grains.
                    LogPollFailed(logger, e.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private sealed record Entry(ScopePolicy Policy, long FetchedAt);

    [LoggerMessage(60, LogLevel.Warning, "Polling the access policy change log failed: {Reason}; decisions read policy from its grains until it works again")]
    private static partial void LogPollFailed(ILogger logger, string reason);

    [LoggerMessage(61, LogLevel.Warning, "Refetching the access policy of {Scope} failed: {Reason}")]
    private static partial void LogRefetchFailed(ILogger logger, string scope, string reason);
}
