using System.Buffers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Registry.Api.Json;
using Registry.Grains;

namespace Registry.Api.Events;

/// <summary>The <c>Registry:Audit</c> section.</summary>
public sealed class AuditOptions
{
    public const string Section = "Registry:Audit";

    /// <summary>The file audit records are appended to (relative: to the working directory); unset: no audit log.</summary>
    public string? Path { get; set; }
}

/// <summary>
/// The example subscriber: who pushed, mounted and deleted what, one JSON object per line
/// appended to <see cref="AuditOptions.Path"/>:
/// <c>{"time","action","repository","digest","tag","mediaType","actor","addr","userAgent","id"}</c>.
/// Every replica receives every event, so in cluster mode each one writes the complete log to
/// its own file. Ids already in the file's tail are not logged again (a redelivery after restart).
/// </summary>
public sealed class AuditLogSubscriber : IRegistryEventSubscriber
{
    /// <summary>How much of the existing file is read at start to know the ids already logged.</summary>
    private const int SeedBytes = 1 << 20;

    private readonly string _path;
    private readonly ILogger<AuditLogSubscriber> _logger;
    private readonly SemaphoreSlim _gate;
    private RecentIds? _logged;

    /// <summary>Whether the file ends in a line cut by a crash, which the next record must not continue.</summary>
    private bool _cutLine;

    public AuditLogSubscriber(IOptions<AuditOptions> options, ILogger<AuditLogSubscriber> logger)
    {
        var path = options.Value.Path;
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new InvalidOperationException("Registry:Audit:Path is not set: the audit log needs a file to append to.");
        }

        _path = System.IO.Path.GetFullPath(path);
        _logger = logger;

        // The access audit appends refusals to the same file: one lock per file keeps lines whole.
        _gate = Access.AuditLines.LockOf(_path);
    }

    public string Path => _path;

    public async Task OnEventAsync(RegistryEvent e, CancellationToken ct)
    {
        if (e.Action is not (RegistryEvent.Push or RegistryEvent.Mount or RegistryEvent.Delete
            or RegistryEvent.RepositoryRemoved or RegistryEvent.BlobCollected or RegistryEvent.CollectionFinished))
        {
            return;
        }

        await _gate.WaitAsync(ct);
        try
        {
            _logged ??= await ReadLoggedIdsAsync(ct);
            if (_logged.Contains(e.Id))
            {
                return;
            }

            var line = Line(e);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(_path)!);
            await using (var file = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
            {
                if (_cutLine)
                {
                    file.WriteByte((byte)'\n');
                }

                await file.WriteAsync(line, ct);
                await file.FlushAsync(ct);
            }

            _cutLine = false;

            _logged.Add(e.Id);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>One record and its line feed.</summary>
    internal static byte[] Line(RegistryEvent e)
    {
        var record = new AuditRecord(
            e.Timestamp.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            e.Action,
            e.Repository,
            e.Target.Digest,
            e.Target.Tag,
            e.Target.MediaType,
            e.Actor,
            e.Request.Addr,
            e.Request.UserAgent,
            e.Id);
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            JsonSerializer.Serialize(json, record, ApiJsonContext.Default.AuditRecord);
        }

        buffer.Write("\n"u8);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The ids in the last lines of the file (up to 1 MiB of it).</summary>
    private async Task<RecentIds> ReadLoggedIdsAsync(CancellationToken ct)
    {
        var ids = new RecentIds(RegistryEventDispatcher.DedupeWindow);
        try
        {
            await using var file = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            if (file.Length > 0)
            {
                file.Seek(-1, SeekOrigin.End);
                _cutLine = file.ReadByte() != '\n';
            }

            var start = Math.Max(0, file.Length - SeedBytes);
            file.Seek(start, SeekOrigin.Begin);
            using var reader = new StreamReader(file, Encoding.UTF8);
            if (start > 0)
            {
                // The first line is most likely cut: skip it.
                await reader.ReadLineAsync(ct);
            }

            while (await reader.ReadLineAsync(ct) is { } line)
            {
                try
                {
                    if (JsonSerializer.Deserialize(line, ApiJsonContext.Default.AuditRecordId)?.Id is { Length: > 0 } value)
                    {
                        ids.Add(value);
                    }
                }
                catch (JsonException)
                {
                    // A line cut by a crash mid-append (or not ours): nothing to learn from it.
                }
            }
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            EventsLog.AuditSeedFailed(_logger, e, _path);
        }

        return ids;
    }
}

/// <summary>One audit line; absent facts are written as <c>null</c>. <see cref="Time"/> is ISO 8601 UTC with seven fractional digits.</summary>
internal sealed record AuditRecord(
    string Time,
    string Action,
    string Repository,
    string? Digest,
    string? Tag,
    string? MediaType,
    string? Actor,
    string Addr,
    string UserAgent,
    string Id);

/// <summary>The one field read back from existing lines.</summary>
internal sealed record AuditRecordId(string? Id);
