using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Orleans.Runtime;
using Orleans.Serialization;
using Orleans.Storage;
using Registry.Storage;

namespace Registry.Silo;

/// <summary>
/// Grain state as one file per grain under <c>{root}/{state name}/{grain type}/{key}</c>:
/// an 8-byte version (the ETag) followed by the state in the Orleans binary format, which is
/// version tolerant through the <c>[Id]</c> of every field. Written to a temporary file, flushed
/// to disk and renamed over the old one, then the directory is flushed: a crash leaves either the
/// old or the new state, and a write that returned survives a machine crash.
/// </summary>
/// <param name="volatileStates">
/// State names whose writes skip the disk flush (still atomic by rename): state that may be lost in
/// a machine crash without harm, such as upload sessions, which clients restart.
/// </param>
public sealed class FileGrainStorage(string root, Serializer serializer, IReadOnlySet<string>? volatileStates = null) : IGrainStorage
{
    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var path = PathFor(stateName, grainId);
        byte[] bytes;
        try
        {
            bytes = await File.ReadAllBytesAsync(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            grainState.RecordExists = false;
            grainState.ETag = null;
            return;
        }

        long version;
        try
        {
            version = BinaryPrimitives.ReadInt64LittleEndian(bytes);
            grainState.State = serializer.Deserialize<T>(bytes.AsMemory(sizeof(long)));
        }
        catch (Exception e) when (IsVolatile(stateName) && e is not OutOfMemoryException)
        {
            // Volatile state is renamed into place unflushed, so a machine crash can leave it empty
            // or cut short. It is state that may be lost: the grain starts afresh.
            File.Delete(path);
            grainState.RecordExists = false;
            grainState.ETag = null;
            return;
        }

        grainState.ETag = version.ToString(CultureInfo.InvariantCulture);
        grainState.RecordExists = true;
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var path = PathFor(stateName, grainId);
        var version = CheckVersion(path, grainState.ETag) + 1;
        var temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        var durable = !IsVolatile(stateName);
        DurableFiles.CreateDirectory(Path.GetDirectoryName(path)!);

        try
        {
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.None))
            {
                var header = new byte[sizeof(long)];
                BinaryPrimitives.WriteInt64LittleEndian(header, version);
                file.Write(header);

                // The state is captured synchronously, straight into the file through pooled buffers (a large
                // state never becomes one large array); only then does the grain yield, while the disk syncs.
                serializer.Serialize(grainState.State, file);
                file.Flush();
                if (durable)
                {
                    await Task.Run(() => DurableFiles.Flush(file.SafeFileHandle));
                }
            }

            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }

        if (durable)
        {
            // The rename itself survives a machine crash only once the directory is flushed.
            await Task.Run(() => DurableFiles.FlushDirectoryOf(path));
        }

        grainState.ETag = version.ToString(CultureInfo.InvariantCulture);
        grainState.RecordExists = true;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var path = PathFor(stateName, grainId);
        CheckVersion(path, grainState.ETag);
        try
        {
            File.Delete(path);
        }
        catch (DirectoryNotFoundException)
        {
            // Nothing of this grain type was ever stored: there is nothing to clear.
        }

        grainState.ETag = null;
        grainState.RecordExists = false;
        return Task.CompletedTask;
    }

    private bool IsVolatile(string stateName) => volatileStates?.Contains(stateName) == true;

    /// <summary>Refuses a write based on a version other than the stored one (a second activation).</summary>
    private static long CheckVersion(string path, string? etag)
    {
        long stored = 0;
        if (File.Exists(path))
        {
            Span<byte> header = stackalloc byte[sizeof(long)];
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 0);
            file.ReadExactly(header);
            stored = BinaryPrimitives.ReadInt64LittleEndian(header);
        }

        var expected = etag is null ? 0 : long.Parse(etag, CultureInfo.InvariantCulture);
        if (stored != expected)
        {
            throw new InconsistentStateException($"State at {path} is version {stored}, the activation expected {expected}.", stored.ToString(CultureInfo.InvariantCulture), etag ?? "");
        }

        return stored;
    }

    private string PathFor(string stateName, GrainId grainId)
    {
        var key = grainId.Key.ToString()!;
        var escaped = Uri.EscapeDataString(key);
        var fileName = escaped.Length <= 120
            ? escaped
            : "sha256-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
        return Path.Combine(root, stateName, grainId.Type.ToString()!, fileName);
    }
}
