using System.Globalization;
using System.Runtime.CompilerServices;

namespace Registry.Storage;

/// <remarks>
/// Strays of the filesystem driver: files left in <c>tmp/</c> by a crash between writing a blob
/// aside and renaming it into place (or by a readiness probe). A file there is in use for
/// milliseconds, so one older than the grace period belongs to nobody. Upload directories are the
/// upload expiry's, and are not strays.
/// </remarks>
public sealed partial class FileSystemBlobStore
{
    public async IAsyncEnumerable<StrayItem> ListStraysAsync(DateTimeOffset modifiedBefore, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var path in Directory.EnumerateFiles(_temp))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                continue; // renamed into place or deleted while listing
            }

            var modified = new DateTimeOffset(info.LastWriteTimeUtc, TimeSpan.Zero);
            if (modified < modifiedBefore)
            {
                yield return new StrayItem(StorageLayout.TempDirectory + "/" + info.Name, info.Length, modified, info.LastWriteTimeUtc.Ticks.ToString(CultureInfo.InvariantCulture));
            }
        }

        await Task.CompletedTask;
    }

    public Task<bool> DeleteStrayIfUnchangedAsync(string name, string version, CancellationToken cancellationToken)
    {
        // Only a plain file name directly under tmp/: anything else (a blob, "..", a nested path) is never a stray.
        const string prefix = StorageLayout.TempDirectory + "/";
        if (!name.StartsWith(prefix, StringComparison.Ordinal)
            || name.Length == prefix.Length
            || name.AsSpan(prefix.Length).IndexOfAny('/', '\\') >= 0
            || name[prefix.Length..] is "." or "..")
        {
            return Task.FromResult(false);
        }

        var info = new FileInfo(Path.Combine(_temp, name[prefix.Length..]));
        if (!info.Exists || info.LastWriteTimeUtc.Ticks.ToString(CultureInfo.InvariantCulture) != version)
        {
            return Task.FromResult(false);
        }

        try
        {
            info.Delete();
        }
        catch (DirectoryNotFoundException)
        {
            return Task.FromResult(false);
        }

        return Task.FromResult(true);
    }
}
