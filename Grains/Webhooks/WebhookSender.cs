using System.Net.Http.Headers;

namespace Registry.Grains;

/// <summary>The outcome of one POST: delivered (any 2xx or 3xx) or why not.</summary>
public readonly record struct WebhookAttempt(bool Delivered, string Outcome);

/// <summary>
/// POSTs envelopes to webhook endpoints: one pooled HTTP client for the process, redirects not
/// followed (a 3xx counts as delivered, as in the reference registry), every attempt bounded by
/// the endpoint's timeout. <see cref="CancelAll"/> ends the attempts in flight when the silo stops.
/// </summary>
public sealed class WebhookSender : IDisposable
{
    private const string UserAgent = "orleans-registry-notifications/1";

    private readonly HttpClient _client = new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        UseCookies = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
    })
    {
        Timeout = System.Threading.Timeout.InfiniteTimeSpan,
    };

    private readonly CancellationTokenSource _stopping = new();

    public async Task<WebhookAttempt> PostAsync(WebhookEndpointOptions endpoint, byte[] body)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        timeout.CancelAfter(endpoint.Timeout);
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint.Url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(WebhookEnvelope.MediaType);
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
            using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var status = (int)response.StatusCode;
            return new WebhookAttempt(status is >= 200 and < 400, $"HTTP {status}");
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return new WebhookAttempt(false, _stopping.IsCancellationRequested ? "the silo is stopping" : $"no answer within {endpoint.Timeout}");
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

    public void Dispose()
    {
        _client.Dispose();
        _stopping.Dispose();
    }
}
