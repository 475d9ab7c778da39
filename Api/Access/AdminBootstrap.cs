using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Registry.Grains;
using Registry.Silo;

namespace Registry.Api.Access;

/// <summary>
/// Creates the <c>admin</c> account at the first start with access control on. Its password is
/// the configured one or, when none is set, a generated one written to
/// <c>&lt;data&gt;/admin-password</c> (mode 0600): the log names the file, never the secret.
/// </summary>
public sealed partial class AdminBootstrap(IOptions<AccessOptions> access, IOptions<RegistryOptions> registry, IGrainFactory grains, ILogger<AdminBootstrap> logger) : IHostedService
{
    public const string AdminName = "admin";
    public const string PasswordFileName = "admin-password";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!access.Value.Enabled)
        {
            return;
        }

        var account = grains.GetGrain<IAccountGrain>(AdminName);
        if (await account.Get() is not null)
        {
            return;
        }

        var password = access.Value.AdminPassword;
        string? file = null;
        if (password.Length == 0)
        {
            password = Convert.ToBase64String(RandomNumberGenerator.GetBytes(18)).Replace('+', '-').Replace('/', '_');
            file = Path.Combine(registry.Value.DataDirectory, PasswordFileName);
            await WriteSecretAsync(file, password, cancellationToken);
        }

        if (await AccountSeeding.CreateAsync(account, PasswordHashing.Hash(password), isAdmin: true))
        {
            LogAdminCreated(logger, AdminName, file ?? $"{AccessOptions.Section}:AdminPassword");
        }
        else if (file is not null)
        {
            // Another replica created the account first: this generated password was never stored.
            File.Delete(file);
        }
    }

    /// <summary>Writes the file readable by its owner only, from its creation on.</summary>
    private static async Task WriteSecretAsync(string file, string secret, CancellationToken cancellationToken)
    {
        File.Delete(file);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        await using var stream = new FileStream(file, options);
        await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(secret + "\n"), cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(30, LogLevel.Warning, "Created the account {Account}; its password is in {Source}")]
    private static partial void LogAdminCreated(ILogger logger, string account, string source);
}
