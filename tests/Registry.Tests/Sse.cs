using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Threading.Channels;

namespace Registry.Tests;

/// <summary>One server-sent event with data (the shape a browser's EventSource dispatches).</summary>
public sealed record SseEvent(string? Id, string Event, string Data)
{
    public long Sequence => long.Parse(Id!, System.Globalization.CultureInfo.InvariantCulture);

    public JsonElement Json => JsonDocument.Parse(Data).RootElement.Clone();

    public string Repository => Json.GetProperty("target").GetProperty("repository").GetString()!;

    public string? Digest => Json.GetProperty("target").TryGetProperty("digest", out var d) ? d.GetString() : null;

    public string? Tag => Json.GetProperty("target").TryGetProperty("tag", out var t) ? t.GetString() : null;

    public string? MediaType => Json.GetProperty("target").TryGetProperty("mediaType", out var m) ? m.GetString() : null;

    public string EventId => Json.GetProperty("id").GetString()!;

    public override string ToString() => $"#{Id} {Event} {Data}";
}

/// <summary>
/// A watch client: streams <c>GET /apis/registry/v1/watch</c> and parses the body as the SSE
/// spec says (fields <c>id</c>, <c>event</c>, <c>data</c>; comments; a blank line ends a block;
/// a block with an id but no data only moves the last event id).
/// </summary>
public sealed class WatchStream : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<SseEvent> _events = Channel.CreateUnbounded<SseEvent>();
    private readonly Task _reader;
    private readonly List<long> _activity = [];
    private int _comments;

    private WatchStream(HttpResponseMessage response)
    {
        _response = response;
        _reader = ReadAsync();
    }

    /// <summary>The last event id received (what a client reconnects with).</summary>
    public string? LastEventId { get; private set; }

    /// <summary>Comment lines received (heartbeats).</summary>
    public int Comments => Volatile.Read(ref _comments);

    /// <summary>Whether the server ended the stream (or the connection broke).</summary>
    public bool Ended => _reader.IsCompleted;

    /// <summary>When each line arrived and when the stream ended (<see cref="Stopwatch.GetTimestamp"/>).</summary>
    public long[] Activity
    {
        get
        {
            lock (_activity)
            {
                return [.. _activity];
            }
        }
    }

    public static async Task<WatchStream> OpenAsync(HttpClient client, string query, string? lastEventId = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/apis/registry/v1/watch?" + query);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (lastEventId is not null)
        {
            request.Headers.TryAddWithoutValidation("Last-Event-ID", lastEventId);
        }

        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WithinAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        return new WatchStream(response);
    }

    /// <summary>The next event, within the test bound.</summary>
    public async Task<SseEvent> NextAsync()
    {
        using var deadline = Bounded.Token();
        try
        {
            return await _events.Reader.ReadAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            throw new Xunit.Sdk.XunitException("timed out waiting for the next server-sent event");
        }
        catch (ChannelClosedException)
        {
            throw new Xunit.Sdk.XunitException("the watch stream ended");
        }
    }

    /// <summary>Events up to and including the first that satisfies <paramref name="last"/>.</summary>
    public async Task<List<SseEvent>> ReadUntilAsync(Func<SseEvent, bool> last)
    {
        var events = new List<SseEvent>();
        while (true)
        {
            var e = await NextAsync();
            events.Add(e);
            if (last(e))
            {
                return events;
            }
        }
    }

    /// <summary>An event already received and not read yet, if any.</summary>
    public bool TryNext(out SseEvent? e) => _events.Reader.TryRead(out e);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _response.Dispose();
        try
        {
            await _reader.WithinAsync();
        }
        catch (Exception)
        {
            // The reader ends with the connection.
        }

        _stop.Dispose();
    }

    private async Task ReadAsync()
    {
        try
        {
            await using var body = await _response.Content.ReadAsStreamAsync(_stop.Token);
            using var reader = new StreamReader(body);
            string? id = null, type = null;
            var data = new List<string>();
            while (await reader.ReadLineAsync(_stop.Token) is { } line)
            {
                Record();
                if (line.Length == 0)
                {
                    if (id is not null)
                    {
                        LastEventId = id;
                    }

                    if (data.Count > 0)
                    {
                        _events.Writer.TryWrite(new SseEvent(LastEventId, type ?? "message", string.Join('\n', data)));
                    }

                    (id, type) = (null, null);
                    data.Clear();
                    continue;
                }

                if (line[0] == ':')
                {
                    Interlocked.Increment(ref _comments);
                    continue;
                }

                var colon = line.IndexOf(':', StringComparison.Ordinal);
                var field = colon < 0 ? line : line[..colon];
                var value = colon < 0 ? "" : line[(colon + 1)..].TrimStart(' ');
                switch (field)
                {
                    case "id":
                        id = value;
                        break;
                    case "event":
                        type = value;
                        break;
                    case "data":
                        data.Add(value);
                        break;
                }
            }
        }
        finally
        {
            Record();
            _events.Writer.TryComplete();
        }
    }

    private void Record()
    {
        lock (_activity)
        {
            _activity.Add(Stopwatch.GetTimestamp());
        }
    }
}

public static class Poll
{
    /// <summary>Checks <paramref name="condition"/> every 50 ms until it holds, within the test bound.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Bounded.Timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"timed out waiting until {what}");
            }

            // A condition on another process or a file: poll, bounded by the deadline.
            await Task.Delay(50);
        }
    }
}

/// <summary>Reads the audit log's JSON lines.</summary>
public static class AuditFile
{
    public static async Task<List<JsonElement>> ReadAsync(string path)
    {
        if (!File.Exists(path))
        {
            return [];
        }

        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(file);
        var lines = new List<JsonElement>();
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Length > 0 && line.EndsWith('}'))
            {
                lines.Add(JsonDocument.Parse(line).RootElement.Clone());
            }
        }

        return lines;
    }

    public static string? Str(this JsonElement e, string name) => e.GetProperty(name).GetString();
}
