using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text.Json;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;
using Registry.Api.Events;
using Registry.Api.Json;
using Registry.Grains;

namespace Registry.Api.Access;

/// <summary>
/// Records denied and failed attempts: a 401 to a request that presented credentials, a 403, a
/// failed or throttled login at the token endpoint. Each is a structured log entry (category
/// <c>Registry.Api.Access.AccessAudit</c>) and, when <c>Registry:Audit:Path</c> is set, a line
/// of the audit log next to the change events, with who (the name claimed, or null for
/// anonymous), what (method, path, the scope it needed) and the client address; never a secret.
/// </summary>
/// <remarks>
/// At most <see cref="AccessOptions.AuditDenialsPerSecond"/> are recorded a second; the rest are
/// only counted (<c>registry.access.audit_suppressed</c>). Those recorded also become events on
/// the registry's streams (<see cref="RefusalEvents"/>, best-effort), so the budget bounds them too.
/// </remarks>
public sealed partial class AccessAudit : IDisposable
{
    public const string Unauthorized = "access.unauthorized";
    public const string Denied = "access.denied";
    public const string LoginFailed = "login.failed";
    public const string LoginThrottled = "login.throttled";

    private readonly string? _path;
    private readonly ILogger<AccessAudit> _logger;
    private readonly RefusalEvents _events;
    private readonly TokenBucketRateLimiter _budget;
    private readonly Counter<long> _refused;
    private readonly Counter<long> _suppressed;

    public AccessAudit(IOptions<AuditOptions> audit, IOptions<AccessOptions> options, RegistryMeter meter, RefusalEvents events, ILogger<AccessAudit> logger)
    {
        _events = events;
        _path = string.IsNullOrWhiteSpace(audit.Value.Path) ? null : Path.GetFullPath(audit.Value.Path);
        _logger = logger;
        var perSecond = options.Value.AuditDenialsPerSecond;
        _budget = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = perSecond,
            TokensPerPeriod = perSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        });
        _refused = meter.Meter.CreateCounter<long>("registry.access.refused", "{request}", "Requests refused by access control, by audit action (access.unauthorized, access.denied, login.failed, login.throttled).");
        _suppressed = meter.Meter.CreateCounter<long>("registry.access.audit_suppressed", "{request}", "Refusals beyond Registry:Access:AuditDenialsPerSecond: counted, not written to the audit.");
    }

    /// <summary>Records one refusal of <paramref name="context"/>'s request.</summary>
    /// <param name="actor">The name the caller claimed or proved; null for anonymous or an unreadable token.</param>
    /// <param name="scope">The access the request needed, as scope strings (empty when none).</param>
    /// <param name="reason">Why: <c>invalid_token</c>, <c>bad_credentials</c>, <c>insufficient_scope</c>, <c>forbidden</c>, <c>too_many_failures</c>.</param>
    public async ValueTask RecordAsync(HttpContext context, string action, int status, string? actor, string scope, string reason)
    {
        _refused.Add(1, new KeyValuePair<string, object?>("action", action));
        using var lease = _budget.AttemptAcquire();
        if (!lease.IsAcquired)
        {
            _suppressed.Add(1);
            return;
        }

        var request = context.Request;
        var addr = context.Connection.RemoteIpAddress is { } ip ? $"{ip}:{context.Connection.RemotePort}" : "";
        var path = request.Path.Value ?? "";
        Refused(_logger, action, status, actor ?? "(anonymous)", request.Method, path, scope, reason, addr);
        var id = Guid.NewGuid().ToString("N");
        _events.Publish(context, id, action, status, actor, scope, reason, addr, path);
        if (_path is null)
        {
            return;
        }

        var record = new AccessAuditRecord(
            DateTime.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            action,
            status,
            actor,
            request.Method,
            path.Length > 1024 ? path[..1024] : path,
            scope.Length > 1024 ? scope[..1024] : scope,
            reason,
            addr,
            request.Headers.UserAgent.ToString() is var agent && agent.Length > 256 ? agent[..256] : agent,
            id);
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            JsonSerializer.Serialize(json, record, ApiJsonContext.Default.AccessAuditRecord);
        }

        buffer.Write("\n"u8);
        try
        {
            await AuditLines.AppendAsync(_path, buffer.WrittenMemory, CancellationToken.None);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            AppendFailed(_logger, e, _path);
        }
    }

    public void Dispose() => _budget.Dispose();

    [LoggerMessage(1, LogLevel.Information, "Refused ({Action}, {Status}): {Actor} {Method} {Path} needing '{Scope}' ({Reason}) from {Addr}")]
    private static partial void Refused(ILogger logger, string action, int status, string actor, string method, string path, string scope, string reason, string addr);

    [LoggerMessage(2, LogLevel.Warning, "Could not append to the audit log {Path}")]
    private static partial void AppendFailed(ILogger logger, Exception exception, string path);
}

/// <summary>
/// The audit file's appends: the change events' subscriber and the access audit write one file,
/// each line under the same per-file lock, so lines never interleave.
/// </summary>
public static class AuditLines
{
    private static readonly ConcurrentDictionary<string, SemaphoreSlim> Locks = new(StringComparer.Ordinal);

    /// <summary>The one lock of the file at <paramref name="fullPath"/> in this process.</summary>
    public static SemaphoreSlim LockOf(string fullPath) => Locks.GetOrAdd(fullPath, _ => new SemaphoreSlim(1, 1));

    /// <summary>Appends whole lines; a line cut by a crash is ended first, so the new one starts on its own line.</summary>
    public static async Task AppendAsync(string fullPath, ReadOnlyMemory<byte> lines, CancellationToken ct)
    {
        var gate = LockOf(fullPath);
        await gate.WaitAsync(ct);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(fullPath)!);
            await using var file = new FileStream(fullPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
            if (file.Length > 0)
            {
                file.Seek(-1, SeekOrigin.End);
                if (file.ReadByte() != '\n')
                {
                    file.WriteByte((byte)'\n');
                }
            }

            file.Seek(0, SeekOrigin.End);
            await file.WriteAsync(lines, ct);
            await file.FlushAsync(ct);
        }
        finally
        {
            gate.Release();
        }
    }
}

/// <summary>One refusal in the audit log; <see cref="Actor"/> is null for anonymous.</summary>
internal sealed record AccessAuditRecord(
    string Time,
    string Action,
    int Status,
    string? Actor,
    string Method,
    string Path,
    string Scope,
    string Reason,
    string Addr,
    string UserAgent,
    string Id);
