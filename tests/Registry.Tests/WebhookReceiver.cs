using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Registry.Tests;

/// <summary>One POST a <see cref="WebhookReceiver"/> got.</summary>
public sealed record ReceivedPost(long ReceivedAt, int Status, string? ContentType, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    /// <summary>The envelope's events (empty when the body is not an envelope).</summary>
    public IReadOnlyList<JsonElement> Events { get; } = Parse(Body);

    private static JsonElement[] Parse(byte[] body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            return json.RootElement.GetProperty("events").EnumerateArray().Select(e => e.Clone()).ToArray();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return [];
        }
    }
}

/// <summary>An event as a receiver saw it, with the time (<see cref="Stopwatch.GetTimestamp()"/>) its POST arrived.</summary>
public sealed record ReceivedEvent(long ReceivedAt, JsonElement Json)
{
    public string Id => Json.GetProperty("id").GetString()!;

    public string Action => Json.GetProperty("action").GetString()!;

    public JsonElement Target => Json.GetProperty("target");

    public string Repository => Target.GetProperty("repository").GetString()!;

    public string? Digest => Target.TryGetProperty("digest", out var d) ? d.GetString() : null;

    public string? MediaType => Target.TryGetProperty("mediaType", out var m) ? m.GetString() : null;

    public string? Tag => Target.TryGetProperty("tag", out var t) ? t.GetString() : null;
}

/// <summary>
/// A webhook endpoint on 127.0.0.1: a small Kestrel app that records every POST and answers what
/// <see cref="Respond"/> says for the n-th POST (0-based): a status code, or -1 to never answer.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    public const int Hang = -1;

    private readonly WebApplication _app;
    private readonly List<ReceivedPost> _posts = [];
    private readonly CancellationTokenSource _stopping = new();
    private int _count;
    private int _probes;
    private TaskCompletionSource _posted = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private WebhookReceiver(WebApplication app, int port, Func<int, int> respond)
    {
        _app = app;
        Port = port;
        Respond = respond;
    }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}/hook";

    public Func<int, int> Respond { get; set; }

    /// <summary>The status a HEAD of the hook (the registry's probe) gets: 405 as from a POST-only receiver, unless told otherwise.</summary>
    public Func<int> ProbeStatus { get; set; } = () => StatusCodes.Status405MethodNotAllowed;

    /// <summary>How many HEADs (probes) arrived.</summary>
    public int Probes => Volatile.Read(ref _probes);

    /// <summary>How many POSTs arrived (answered or not).</summary>
    public int Attempts => Volatile.Read(ref _count);

    public IReadOnlyList<ReceivedPost> Posts
    {
        get
        {
            lock (_posts)
            {
                return _posts.ToArray();
            }
        }
    }

    /// <summary>The events of the POSTs answered with 2xx or 3xx (delivered), in the order they arrived.</summary>
    public IReadOnlyList<ReceivedEvent> Delivered
        => Posts.Where(p => p.Status is >= 200 and < 400).SelectMany(p => p.Events.Select(e => new ReceivedEvent(p.ReceivedAt, e))).ToArray();

    /// <summary>Starts a receiver on <paramref name="port"/> (a free one when null) answering 200 unless told otherwise.</summary>
    public static async Task<WebhookReceiver> StartAsync(int? port = null, Func<int, int>? respond = null)
    {
        var actualPort = port ?? Azurite.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{actualPort}");
        builder.WebHost.ConfigureKestrel(k => k.AddServerHeader = false);
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, actualPort, respond ?? (_ => 200));
        app.MapPost("/hook", receiver.HandleAsync);
        app.MapMethods("/hook", [HttpMethods.Head], (HttpContext context) =>
        {
            Interlocked.Increment(ref receiver._probes);
            context.Response.StatusCode = receiver.ProbeStatus();
        });
        await app.StartAsync();
        return receiver;
    }

    /// <summary>Waits until the delivered events satisfy <paramref name="condition"/>, checking after every POST.</summary>
    public async Task WaitForAsync(Func<IReadOnlyList<ReceivedEvent>, bool> condition, string what, TimeSpan? within = null)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)((within ?? Bounded.Timeout).TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            Task posted;
            lock (_posts)
            {
                posted = _posted.Task;
            }

            if (condition(Delivered))
            {
                return;
            }

            var now = Stopwatch.GetTimestamp();
            if (now >= deadline)
            {
                throw new Xunit.Sdk.XunitException($"timed out waiting until {what}; the receiver got {Posts.Count} POSTs with {Delivered.Count} delivered events");
            }

            var left = Stopwatch.GetElapsedTime(now, deadline);

            try
            {
                await posted.WaitAsync(left);
            }
            catch (TimeoutException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _stopping.Dispose();
    }

    private async Task HandleAsync(HttpContext context)
    {
        var n = Interlocked.Increment(ref _count) - 1;
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted);
        var received = Stopwatch.GetTimestamp();
        var status = Respond(n);
        var headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        lock (_posts)
        {
            _posts.Add(new ReceivedPost(received, status, context.Request.ContentType, headers, body.ToArray()));
            var posted = _posted;
            _posted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            posted.SetResult();
        }

        if (status == Hang)
        {
            using var both = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token);
            try
            {
                await Task.Delay(Timeout.Infinite, both.Token);
            }
            catch (OperationCanceledException)
            {
            }

            return;
        }

        context.Response.StatusCode = status;
        if (status is >= 300 and < 400)
        {
            context.Response.Headers.Location = "/elsewhere";
        }
    }

    /// <summary>True when nothing listens on <paramref name="port"/> of 127.0.0.1.</summary>
    public static bool IsRefused(int port)
    {
        try
        {
            using var client = new System.Net.Sockets.TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return false;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return true;
        }
    }
}
