using System.Globalization;
using Registry.Api.Events;
using Registry.Grains;

namespace Registry.Samples.SubscriberHost;

/// <summary>
/// An example subscriber: each manifest pushed with a tag becomes a log message and, when
/// <c>Sample:PushLog</c> names a file, a line <c>&lt;time&gt; &lt;repository&gt;:&lt;tag&gt; &lt;digest&gt; &lt;event id&gt;</c> in it.
/// </summary>
public sealed partial class PushLog(IConfiguration configuration, ILogger<PushLog> logger) : IRegistryEventSubscriber
{
    private readonly string? _path = configuration["Sample:PushLog"] is { Length: > 0 } path ? Path.GetFullPath(path) : null;

    public async Task OnEventAsync(RegistryEvent e, CancellationToken ct)
    {
        if (e.Action != RegistryEvent.Push || e.Target.Tag is not { } tag)
        {
            return;
        }

        Pushed(logger, e.Repository, tag, e.Target.Digest);
        if (_path is not null)
        {
            // One subscriber call at a time (the dispatcher awaits each), so appends never interleave.
            var line = string.Create(CultureInfo.InvariantCulture, $"{e.Timestamp.UtcDateTime:O} {e.Repository}:{tag} {e.Target.Digest} {e.Id}\n");
            await File.AppendAllTextAsync(_path, line, ct);
        }
    }

    [LoggerMessage(1, LogLevel.Information, "Pushed {Repository}:{Tag} ({Digest})")]
    private static partial void Pushed(ILogger logger, string repository, string tag, string? digest);
}
