using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Registry.Grains;

namespace Registry.Api.Access;

/// <summary>
/// The secrets of robot accounts: <c>orr_&lt;ns&gt;+&lt;name&gt;.&lt;43 characters&gt;</c>, 32 random
/// bytes in base64url behind the robot's login name. The prefix lets secret scanners recognise a
/// leaked one; the login name inside lets a bare <c>Bearer</c> secret find its robot.
/// </summary>
public static class RobotSecret
{
    public const string Prefix = "orr_";

    /// <summary>The separator of a robot's login name, <c>&lt;ns&gt;+&lt;name&gt;</c>: no repository or user name holds it.</summary>
    public const char LoginSeparator = '+';

    public static string Login(string ns, string name) => $"{ns}{LoginSeparator}{name}";

    /// <summary>The namespace and name of a login name <c>ns+name</c>, or null.</summary>
    public static (string Namespace, string Name)? ParseLogin(string login)
    {
        var plus = login.LastIndexOf(LoginSeparator);
        return plus > 0 && plus < login.Length - 1 && login.IndexOf(LoginSeparator, StringComparison.Ordinal) == plus
            ? (login[..plus], login[(plus + 1)..])
            : null;
    }

    public static string New(string ns, string name)
        => $"{Prefix}{Login(ns, name)}.{Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_')}";

    /// <summary>The login name a secret names, or null when it is not shaped like one of ours.</summary>
    public static string? LoginOf(string secret)
    {
        if (!secret.StartsWith(Prefix, StringComparison.Ordinal) || secret.Length > 512)
        {
            return null;
        }

        // The random part is base64url, which has no '.', while a namespace may.
        var dot = secret.LastIndexOf('.');
        return dot > Prefix.Length && secret.Length - dot - 1 == 43 ? secret[Prefix.Length..dot] : null;
    }

    /// <summary>
    /// SHA-256, hex. A fast hash is enough here, unlike for passwords: the secret is 256 random
    /// bits, so there is nothing to guess from a stolen hash, and every request can afford it.
    /// </summary>
    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>Stands for the secret in the tokens issued to the robot: a new robot (a new secret) of the same name has another.</summary>
    public static string Fingerprint(string storedHash) => Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(storedHash)).AsSpan(0, 12));

    /// <summary>Compares in constant time, so the time taken says nothing about how much matched.</summary>
    public static bool Matches(string secret, string storedHash)
        => CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Hash(secret)), Encoding.ASCII.GetBytes(storedHash));
}

/// <summary>
/// Checks robot credentials: the robot is read from its namespace's grain on every check (an
/// in-memory read of an active grain), so a revoked or expired robot fails on the next request.
/// </summary>
public sealed class RobotVerifier(IGrainFactory grains, TimeProvider time)
{
    private static readonly TimeSpan UseResolution = TimeSpan.FromMinutes(1);

    // When this replica last reported each robot's use: at most one report a minute per robot.
    private readonly ConcurrentDictionary<string, DateTimeOffset> _reported = new(StringComparer.Ordinal);

    /// <summary>The robot's identity, when <paramref name="login"/> (or, when null, the one the secret names) and the secret match a live robot.</summary>
    public async Task<Identity?> VerifyAsync(string? login, string secret)
    {
        if (RobotSecret.LoginOf(secret) is not { } named || (login is not null && login != named)
            || RobotSecret.ParseLogin(named) is not var (ns, name))
        {
            return null;
        }

        var robot = await grains.GetGrain<IRobotsGrain>(ns).Get(name);
        var now = time.GetUtcNow();
        if (robot is null || !RobotSecret.Matches(secret, robot.SecretHash) || robot.ExpiresAt <= now)
        {
            return null;
        }

        Report(ns, named, name, now);
        return ToIdentity(ns, robot);
    }

    public static Identity ToIdentity(string ns, Robot robot)
        => new(RobotSecret.Login(ns, robot.Name), [BuiltInGroups.Authenticated, BuiltInGroups.Robots], false, RobotSecret.Fingerprint(robot.SecretHash), robot.Repositories, IdentityKind.Robot, robot.Actions);

    private void Report(string ns, string login, string name, DateTimeOffset now)
    {
        if (_reported.TryGetValue(login, out var last) && now - last < UseResolution)
        {
            return;
        }

        _reported[login] = now;
        if (_reported.Count > 100_000)
        {
            _reported.Clear();
        }

        _ = grains.GetGrain<IRobotsGrain>(ns).MarkUsed(name, now);
    }
}
