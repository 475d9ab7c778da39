using Orleans.Concurrency;
using Orleans.Runtime;

namespace Registry.Grains;

[GenerateSerializer, Alias("registry.webhook-directory-state")]
public sealed class WebhookDirectoryState
{
    /// <summary>Keys of the webhook queues that may hold events.</summary>
    [Id(0)] public HashSet<string> Queues { get; set; } = new(StringComparer.Ordinal);
}

/// <remarks>
/// A queue records itself here before it first stores an event and removes itself once it is
/// durably empty and deactivates, so every stored event belongs to a recorded queue. A crash may
/// leave the record of an empty queue behind; waking it removes it. Reentrant: changes are applied
/// within one turn and share state writes (<see cref="GroupCommit"/>).
/// </remarks>
[Reentrant]
public sealed class WebhookDirectoryGrain : Grain, IWebhookDirectoryGrain
{
    private readonly IPersistentState<WebhookDirectoryState> _state;
    private readonly GroupCommit _commit;

    public WebhookDirectoryGrain([PersistentState("webhook-directory", GrainStorageNames.Provider)] IPersistentState<WebhookDirectoryState> state)
    {
        _state = state;
        _commit = new GroupCommit(() => _state.WriteStateAsync(), DeactivateOnIdle);
    }

    public async Task Add(string queue)
    {
        if (_state.State.Queues.Add(queue))
        {
            await _commit.CommitAsync();
        }
    }

    public async Task Remove(string queue)
    {
        if (_state.State.Queues.Remove(queue))
        {
            await _commit.CommitAsync();
        }
    }

    public Task<int> Wake()
    {
        var queues = _state.State.Queues.ToArray();
        foreach (var queue in queues)
        {
            // One-way: the queue activates (and delivers) on its own; nothing waits for it here.
            _ = GrainFactory.GetGrain<IWebhookQueueGrain>(queue).Wake();
        }

        return Task.FromResult(queues.Length);
    }

    public ValueTask<IReadOnlyList<string>> List()
        => ValueTask.FromResult<IReadOnlyList<string>>(_state.State.Queues.Order(StringComparer.Ordinal).ToArray());

}
