using System.Collections.Concurrent;
using System.Net.Http.Headers;
using Polly.Timeout;

namespace Registry.Grains;

/// <summary>The outcome of one POST: delivered (any 2xx or 3xx) or why not; <paramref name="Unreachable"/> when no connection could be made.</summary>
public readonly record struct WebhookAttempt(bool Delivered, string Outcome, bool Unreachable = false);

/// <summary>
/// POSTs envelopes to webhook endpoints through the named client <see cref="ClientName"/> (one
/// connection pool for the process, redirects not followed: a 3xx counts as delivered, as in the
/// reference registry). Its resilience handler bounds every attempt by the endpoint's timeout
/// (<see cref="AttemptTimeout"/>); retries are the queue grain's. <see cref="CancelAll"/> ends
/// the attempts in flight when the silo stops.
/// </summary>
public sealed class WebhookSender(IHttpClientFactory clients) : IDisposable
{
    public const string ClientName = "registry-webhooks";

    private const string UserAgent = "orleans-registry-notifications/1";

    /// <summary>Carries the endpoint's <see cref="WebhookEndpointOptions.Timeout"/> to the resilience handler.</summary>
    private static readonly HttpRequestOptionsKey<TimeSpan> TimeoutKey = new("registry.webhook-timeout");

    /// <summary>How long a probe's answer is shared by every queue of its endpoint in this process.</summary>
    private static readonly TimeSpan ProbeReuse = TimeSpan.FromSeconds(2);

    /// <summary>The longest a probe may take: it must answer well within the few seconds it spaces.</summary>
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);

    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<string, (long At, Task<bool> Answer)> _probes = new(StringComparer.Ordinal);

    /// <summary>The time one attempt of <paramref name="request"/> may take: its endpoint's Timeout.</summary>
    public static TimeSpan AttemptTimeout(HttpRequestMessage? request)
        => request is not null && request.Options.TryGetValue(TimeoutKey, out var timeout) ? timeout : new WebhookEndpointOptions().Timeout;

    public async Task<WebhookAttempt> PostAsync(WebhookEndpointOptions endpoint, byte[] body)
    {
        using var request = Request(HttpMethod.Post, endpoint, endpoint.Timeout, new ByteArrayContent(body));
        request.Content!.Headers.ContentType = new MediaTypeHeaderValue(EventEnvelope.MediaType);
        try
        {
            using var response = await clients.CreateClient(ClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, _stopping.Token);
            var status = (int)response.StatusCode;
            return new WebhookAttempt(status is >= 200 and < 400, $"HTTP {status}");
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            return new WebhookAttempt(false, "the silo is stopping");
        }
        catch (TimeoutRejectedException)
        {
            return new WebhookAttempt(false, $"no answer within {endpoint.Timeout}");
        }
        catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError)
        {
            return new WebhookAttempt(false, e.Message, Unreachable: true);
        }
        catch (Exception e)
        {
            return new WebhookAttempt(false, e.Message);
        }
    }

    /// <summary>
    /// Whether the endpoint answers at all: a HEAD of its URL with its headers, answered below 500
    /// within <see cref="ProbeTimeout"/> (a 404 or 405 from a receiver that takes only POSTs counts;
    /// no connection, no answer or a proxy's 502/503 do not). One probe per endpoint is shared by
    /// every queue of this process for <see cref="ProbeReuse"/>.
    /// </summary>
    public Task<bool> ProbeAsync(WebhookEndpointOptions endpoint)
    {
        var now = Environment.TickCount64;
        var cached = _probes.AddOrUpdate(
            endpoint.Name,
            _ => (now, SendProbeAsync(endpoint)),
            (_, old) => now - old.At < ProbeReuse.TotalMilliseconds ? old : (now, SendProbeAsync(endpoint)));
        return cached.Answer;
    }

    private async Task<bool> SendProbeAsync(WebhookEndpointOptions endpoint)
    {
        await Task.Yield();
        using var request = Request(HttpMethod.Head, endpoint, endpoint.Timeout < ProbeTimeout ? endpoint.Timeout : ProbeTimeout, null);
        try
        {
            using var response = await clients.CreateClient(ClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, _stopping.Token);
            return (int)response.StatusCode < 500;
        }
        catch (Exception)
        {
            return false;
        }
    }

    private static HttpRequestMessage Request(HttpMethod method, WebhookEndpointOptions endpoint, TimeSpan timeout, HttpContent? content)
    {
        var request = new HttpRequestMessage(method, endpoint.Url) { Content = content };
        request.Options.Set(TimeoutKey, timeout);
        foreach (var (name, value) in endpoint.Headers)
        {
            if (!request.Headers.TryAddWithoutValidation(name, value))
            {
                request.Content?.Headers.TryAddWithoutValidation(name, value);
            }
        }

        if (!request.Headers.Contains("User-Agent"))
        {
            request.Headers.TryAddWithoutValidation("User-Agent", UserAgent);
        }

        return request;
    }

    /// <summary>Cancels the attempts in flight and every later one (the silo is stopping).</summary>
    public void CancelAll()
    {
        try
        {
            _stopping.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already disposed with the host: nothing is in flight any more.
        }
    }

    public void Dispose() => _stopping.Dispose();
}
