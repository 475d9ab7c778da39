using System.Security.Cryptography;
using Orleans.Runtime;

namespace Registry.Grains;

[GenerateSerializer, Alias("registry.signing-keys-state")]
public sealed class SigningKeysState
{
    [Id(0)] public SigningKeySet? Keys { get; set; }
}

public sealed class SigningKeysGrain(
    [PersistentState("signing-keys", GrainStorageNames.Provider)] IPersistentState<SigningKeysState> state,
    TimeProvider time) : Grain, ISigningKeysGrain
{
    public async Task<SigningKeySet> Get()
    {
        if (state.State.Keys is { } keys)
        {
            return keys;
        }

        await WriteAsync(new SigningKeySet(NewKey(), []));
        return state.State.Keys!;
    }

    public async Task<SigningKeySet> Rotate(TimeSpan keepRetired)
    {
        var now = time.GetUtcNow();
        var current = await Get();
        var retired = current.Retired.Prepend(current.Current).Where(k => now - k.CreatedAt <= keepRetired || k == current.Current).ToList();
        await WriteAsync(new SigningKeySet(NewKey(), retired));
        return state.State.Keys!;
    }

    private SigningKey NewKey()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return new SigningKey(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)), key.ExportPkcs8PrivateKey(), time.GetUtcNow());
    }

    private async Task WriteAsync(SigningKeySet keys)
    {
        state.State.Keys = keys;
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
    }
}
