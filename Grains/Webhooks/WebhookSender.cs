using System.Net.Http.Headers;
using Polly.Timeout;

namespace Registry.Grains;

/// <summary>The outcome of one POST: delivered (any 2xx or 3xx) or why not.</summary>
public readonly record struct WebhookAttempt(bool Delivered, string Outcome);

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

    private readonly CancellationTokenSource _stopping = new();

    /// <summary>The time one attempt of <paramref name="request"/> may take: its endpoint's Timeout.</summary>
    public static TimeSpan AttemptTimeout(HttpRequestMessage? request)
        => request is not null && request.Options.TryGetValue(TimeoutKey, out var timeout) ? timeout : new WebhookEndpointOptions().Timeout;

    public async Task<WebhookAttempt> PostAsync(WebhookEndpointOptions endpoint, byte[] body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint.Url) { Content = new ByteArrayContent(body) };
        request.Options.Set(TimeoutKey, endpoint.Timeout);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(EventEnvelope.MediaType);
        foreach (var (name, value) in endpoint.Headers)
        {
            if (!request.Headers.TryAddWithoutValidation(name, value))
            {
                request.Content.Headers.TryAddWithoutValidation(name, value);
            }
        }

        if (!request.Headers.Contains("User-Agent"))
        {
            request.Headers.TryAddWithoutValidation("User-Agent", UserAgent);
        }

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
        catch (Exception e)
        {
            return new WebhookAttempt(false, e.Message);
        }
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
