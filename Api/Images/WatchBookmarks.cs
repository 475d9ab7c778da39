using System.Text.Json;
using System.Text.Json.Nodes;

namespace Registry.Api.Images;

/// <summary>
/// BOOKMARK events of a watch that asked for them (<c>allowWatchBookmarks=true</c>): every
/// <c>Registry:ImageApi:WatchBookmarkInterval</c> an object with only its kind, apiVersion and
/// <c>metadata.resourceVersion</c>, the position the watch has reached, so a client resumes from
/// there rather than from an older point the log may no longer hold.
/// </summary>
public sealed class WatchBookmarks
{
    private readonly bool _enabled;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private DateTimeOffset _next;

    public WatchBookmarks(HttpRequest request, TimeSpan interval, TimeProvider time)
    {
        _enabled = request.Query["allowWatchBookmarks"].ToString() is "true" or "1";
        _interval = interval;
        _time = time;
        _next = time.GetUtcNow() + interval;
    }

    /// <summary>How long to wait for events before a bookmark is due: <paramref name="max"/>, or less when bookmarks are on.</summary>
    public TimeSpan Wait(TimeSpan max)
    {
        if (!_enabled)
        {
            return max;
        }

        var left = _next - _time.GetUtcNow();
        return left < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : left < max ? left : max;
    }

    /// <summary>The bookmark to send now, or null when none is due; the next one is due an interval later.</summary>
    public JsonElement? Due(string kind, string resourceVersion)
    {
        var now = _time.GetUtcNow();
        if (!_enabled || now < _next)
        {
            return null;
        }

        _next = now + _interval;
        var bookmark = new JsonObject
        {
            ["kind"] = kind,
            ["apiVersion"] = ImageObjects.ApiVersion,
            ["metadata"] = new JsonObject { ["resourceVersion"] = resourceVersion },
        };
        return JsonSerializer.SerializeToElement(bookmark, ImageApiJsonContext.Default.JsonObject);
    }
}
