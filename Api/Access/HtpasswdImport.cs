using Microsoft.Extensions.Options;
using Registry.Grains;

namespace Registry.Api.Access;

/// <summary>
/// Imports the users of an htpasswd file at start, so people coming from the reference registry
/// keep their logins: a user that does not exist is created with the file's bcrypt hash as is
/// (no admin, no groups); one that exists is left alone, so a password changed here is never
/// set back by the next start. Only bcrypt entries (<c>$2y$</c>, <c>$2a$</c>, <c>$2b$</c>) are
/// taken, as the reference registry does; others are skipped with a log line naming the user.
/// </summary>
public sealed partial class HtpasswdImport(IOptions<AccessOptions> access, IGrainFactory grains, ILogger<HtpasswdImport> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var file = access.Value.HtpasswdFile;
        if (!access.Value.Enabled || file.Length == 0)
        {
            return;
        }

        var (created, existing) = (0, 0);
        foreach (var (user, hash) in Read(await File.ReadAllLinesAsync(file, cancellationToken), file))
        {
            if (await AccountSeeding.CreateAsync(grains.GetGrain<IAccountGrain>(user), hash, isAdmin: false))
            {
                created++;
            }
            else
            {
                existing++;
            }
        }

        LogImported(logger, file, created, existing);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The importable entries; every other line but blanks and comments is logged (by user, never by hash) and skipped.</summary>
    private IEnumerable<(string User, string Hash)> Read(string[] lines, string file)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var user = colon > 0 ? line[..colon] : "";
            var hash = colon > 0 ? line[(colon + 1)..] : "";
            if (!IdentityRequests.IsValidName(user))
            {
                LogSkipped(logger, file, i + 1, user.Length > 64 ? user[..64] : user, "the user name is not a DNS label (lower case letters, digits and '-')");
            }
            else if (!(hash.StartsWith("$2y$", StringComparison.Ordinal) || hash.StartsWith("$2a$", StringComparison.Ordinal) || hash.StartsWith("$2b$", StringComparison.Ordinal)) || hash.Length != 60)
            {
                LogSkipped(logger, file, i + 1, user, "only bcrypt hashes ($2y$, $2a$, $2b$) are imported: set it again with 'htpasswd -B'");
            }
            else if (!seen.Add(user))
            {
                LogSkipped(logger, file, i + 1, user, "the user appeared on an earlier line");
            }
            else
            {
                yield return (user, hash);
            }
        }
    }

    [LoggerMessage(46, LogLevel.Warning, "Skipped line {Line} of {File} (user '{User}'): {Reason}")]
    private static partial void LogSkipped(ILogger logger, string file, int line, string user, string reason);

    [LoggerMessage(47, LogLevel.Information, "Imported {File}: created {Created} users, left {Existing} existing ones as they are")]
    private static partial void LogImported(ILogger logger, string file, int created, int existing);
}
