using Orleans.Runtime;

namespace Registry.Grains;

[GenerateSerializer, Alias("registry.policy-state")]
public sealed class PolicyState
{
    [Id(0)] public bool Exists { get; set; }

    /// <summary>Raised by every change and kept when the namespace is deleted, so a recreated one never repeats a version.</summary>
    [Id(1)] public long Version { get; set; }

    [Id(2)] public DateTimeOffset? CreatedAt { get; set; }

    [Id(3)] public List<RoleBinding> Bindings { get; set; } = [];

    /// <summary>The scope's immutable tag rules (<see cref="PolicyGrain.PutImmutableTagRules"/>); kept when the namespace is deleted, as its repositories are.</summary>
    [Id(4)] public ImmutableTagRules? TagRules { get; set; }
}

/// <summary>
/// The namespace record and role bindings of one scope (<see cref="IPolicyGrain"/>). Not
/// reentrant: each change reads, writes and announces in one sitting, so versions never race.
/// </summary>
public sealed partial class PolicyGrain(
    [PersistentState("policy", GrainStorageNames.Provider)] IPersistentState<PolicyState> state,
    TimeProvider time) : Grain, IPolicyGrain
{
    /// <summary>The name of the binding that makes a namespace's creator its admin.</summary>
    public const string CreatorBinding = "namespace-admin";

    /// <summary>The most bindings one scope holds: each decision scans them.</summary>
    public const int MaxBindings = 1000;

    private string Scope => this.GetPrimaryKeyString();

    private bool IsRegistryScope => Scope == ScopePolicy.RegistryScope;

    private bool Exists => IsRegistryScope || state.State.Exists;

    public ValueTask<ScopePolicy> Get() => ValueTask.FromResult(Snapshot());

    public async Task<PolicyChangeResult> Create(string admin)
    {
        if (Exists)
        {
            return new(PolicyOutcome.AlreadyExists, Snapshot());
        }

        // Listed before it exists: a listing skips names whose policy says they do not exist, so a failure between the two writes hides nothing.
        await GrainFactory.GetGrain<INamespaceDirectoryGrain>(0).Add(Scope);
        var now = time.GetUtcNow();
        var version = state.State.Version + 1;
        List<RoleBinding> bindings = admin.Length > 0 ? [new RoleBinding(CreatorBinding, "admin", [new PolicySubject(PolicySubject.User, admin)], null, version, now)] : [];
        await WriteAsync(s =>
        {
            s.Exists = true;
            s.CreatedAt = now;
            s.Bindings = bindings;
        });
        return new(PolicyOutcome.Done, Snapshot());
    }

    public async Task<PolicyChangeResult> Delete(long resourceVersion)
    {
        if (!state.State.Exists || IsRegistryScope)
        {
            return new(PolicyOutcome.NotFound, Snapshot());
        }

        if (resourceVersion != 0 && resourceVersion != state.State.Version)
        {
            return new(PolicyOutcome.Conflict, Snapshot());
        }

        await WriteAsync(s =>
        {
            s.Exists = false;
            s.CreatedAt = null;
            s.Bindings = [];
        });
        await GrainFactory.GetGrain<INamespaceDirectoryGrain>(0).Remove(Scope);
        return new(PolicyOutcome.Done, Snapshot());
    }

    public async Task<PolicyChangeResult> PutBinding(RoleBinding binding, bool create, long resourceVersion)
    {
        if (!Exists)
        {
            return new(PolicyOutcome.NotFound, Snapshot());
        }

        var index = state.State.Bindings.FindIndex(b => b.Name == binding.Name);
        var outcome = (create, index) switch
        {
            (true, >= 0) => PolicyOutcome.AlreadyExists,
            (true, _) when state.State.Bindings.Count >= MaxBindings => PolicyOutcome.TooMany,
            (false, < 0) => PolicyOutcome.NotFound,
            (false, _) when resourceVersion != 0 && resourceVersion != state.State.Bindings[index].ResourceVersion => PolicyOutcome.Conflict,
            _ => PolicyOutcome.Done,
        };
        if (outcome != PolicyOutcome.Done)
        {
            return new(outcome, Snapshot());
        }

        var version = state.State.Version + 1;
        var stored = binding with
        {
            ResourceVersion = version,
            CreatedAt = index >= 0 ? state.State.Bindings[index].CreatedAt : time.GetUtcNow(),
            Subjects = [.. binding.Subjects],
        };
        await WriteAsync(s =>
        {
            if (index >= 0)
            {
                s.Bindings[index] = stored;
            }
            else
            {
                s.Bindings.Add(stored);
            }
        });
        return new(PolicyOutcome.Done, Snapshot());
    }

    public async Task<PolicyChangeResult> DeleteBinding(string name, long resourceVersion)
    {
        var index = Exists ? state.State.Bindings.FindIndex(b => b.Name == name) : -1;
        if (index < 0)
        {
            return new(PolicyOutcome.NotFound, Snapshot());
        }

        if (resourceVersion != 0 && resourceVersion != state.State.Bindings[index].ResourceVersion)
        {
            return new(PolicyOutcome.Conflict, Snapshot());
        }

        await WriteAsync(s => s.Bindings.RemoveAt(index));
        return new(PolicyOutcome.Done, Snapshot());
    }

    private ScopePolicy Snapshot() => new(Scope, Exists, state.State.Version, state.State.CreatedAt, [.. state.State.Bindings], state.State.TagRules);

    /// <summary>Applies a change with a new version, makes it durable, then announces it to every process's cache before the caller hears of it.</summary>
    private async Task WriteAsync(Action<PolicyState> change, Func<Task>? beforeAnnouncing = null)
    {
        change(state.State);
        state.State.Version++;
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            // As every grain here: the next call reloads what is stored, so nothing unstored is acknowledged.
            DeactivateOnIdle();
            throw;
        }

        if (beforeAnnouncing is not null)
        {
            await beforeAnnouncing();
        }

        await GrainFactory.GetGrain<IPolicyVersionGrain>(0).Changed(Scope, state.State.Version, beforeAnnouncing is not null);
    }
}
