using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace Registry.Api.Oci;

/// <summary>The grammar of repository names, tags and digests (distribution-spec).</summary>
public static partial class References
{
    public const int MaxNameLength = 255;

    public static bool IsValidName(string name)
        => name.Length is > 0 and <= MaxNameLength && NameRegex().IsMatch(name);

    public static bool IsValidTag(string tag) => TagRegex().IsMatch(tag);

    /// <summary>sha256 (64 lowercase hex) or sha512 (128 lowercase hex).</summary>
    public static bool IsValidDigest(string digest) => DigestRegex().IsMatch(digest);

    public static bool LooksLikeDigest(string reference) => reference.Contains(':', StringComparison.Ordinal);

    public static HashAlgorithmName AlgorithmOf(string digest)
        => digest.StartsWith("sha512:", StringComparison.Ordinal) ? HashAlgorithmName.SHA512 : HashAlgorithmName.SHA256;

    public static string Format(HashAlgorithmName algorithm, ReadOnlySpan<byte> hash)
        => (algorithm == HashAlgorithmName.SHA512 ? "sha512:" : "sha256:") + Convert.ToHexStringLower(hash);

    public static string Compute(HashAlgorithmName algorithm, ReadOnlySpan<byte> content)
        => algorithm == HashAlgorithmName.SHA512
            ? Format(algorithm, SHA512.HashData(content))
            : Format(algorithm, SHA256.HashData(content));

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*\z", RegexOptions.CultureInvariant)]
    private static partial Regex NameRegex();

    [GeneratedRegex(@"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}\z", RegexOptions.CultureInvariant)]
    private static partial Regex TagRegex();

    [GeneratedRegex(@"^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})\z", RegexOptions.CultureInvariant)]
    private static partial Regex DigestRegex();
}
