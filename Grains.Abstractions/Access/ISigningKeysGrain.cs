using Orleans.Concurrency;

namespace Registry.Grains;

/// <summary>A key the registry signs its tokens with: a P-256 private key (PKCS#8) and its key id.</summary>
[GenerateSerializer, Immutable, Alias("registry.signing-key")]
public sealed record SigningKey(
    [property: Id(0)] string KeyId,
    [property: Id(1)] byte[] PrivateKey,
    [property: Id(2)] DateTimeOffset CreatedAt);

/// <summary>The key that signs now, and the retired keys whose tokens may still be alive.</summary>
[GenerateSerializer, Immutable, Alias("registry.signing-keys")]
public sealed record SigningKeySet(
    [property: Id(0)] SigningKey Current,
    [property: Id(1)] IReadOnlyList<SigningKey> Retired);

/// <summary>
/// The registry's token-signing keys, one set for the whole cluster (key 0), so a token issued by
/// one replica is verified by every other. Kept in grain state, never in the image.
/// </summary>
[Alias("registry.signing-keys-grain")]
public interface ISigningKeysGrain : IGrainWithIntegerKey
{
    /// <summary>The keys; the first call creates the first key.</summary>
    [Alias("get")]
    Task<SigningKeySet> Get();

    /// <summary>
    /// Makes a new key the signing one; the old one still verifies, and retired keys older than
    /// <paramref name="keepRetired"/> (longer than any token lives) are dropped.
    /// </summary>
    [Alias("rotate")]
    Task<SigningKeySet> Rotate(TimeSpan keepRetired);
}
