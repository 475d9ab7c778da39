using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Registry.Grains;

/// <summary>The <c>Registry:Webhooks</c> configuration section.</summary>
public sealed class WebhookOptions
{
    public const string Section = "Registry:Webhooks";

    /// <summary>The endpoints that receive every event (except those they ignore).</summary>
    public List<WebhookEndpointOptions> Endpoints { get; set; } = [];

    /// <summary>
    /// Names of endpoints no longer configured whose queued events are to be deleted: the one
    /// explicit removal. The queue of an endpoint that merely disappears from
    /// <see cref="Endpoints"/> keeps its events until the endpoint is configured again.
    /// </summary>
    public List<string> Purge { get; set; } = [];

    /// <summary>Whether queued events of <paramref name="name"/> are to be deleted (and it is not configured).</summary>
    public bool Purges(string name) => Find(name) is null && Purge.Contains(name, StringComparer.Ordinal);

    public WebhookEndpointOptions? Find(string name)
        => Endpoints.FirstOrDefault(e => string.Equals(e.Name, name, StringComparison.Ordinal));
}

/// <summary>One webhook receiver (<c>Registry:Webhooks:Endpoints:N</c>).</summary>
public sealed class WebhookEndpointOptions
{
    /// <summary>Names the endpoint in queue keys, logs and the <c>endpoint</c> metric label.</summary>
    public string Name { get; set; } = "";

    /// <summary>The absolute http(s) URL events are POSTed to.</summary>
    public string Url { get; set; } = "";

    /// <summary>Headers sent with every POST (e.g. <c>Authorization</c>).</summary>
    public Dictionary<string, string> Headers { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>How long one POST may take, from connecting to the response headers.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Consecutive failed attempts after which the endpoint counts as failing and is retried only every <see cref="MaxBackoff"/>.</summary>
    public int FailureThreshold { get; set; } = 5;

    /// <summary>The wait after the first failed attempt; it doubles with each further failure.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between attempts, and the wait once the endpoint is failing.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The most events waiting for this endpoint per namespace; beyond it the oldest are dropped.</summary>
    public int MaxPending { get; set; } = 10_000;

    /// <summary>The most events sent in one POST (one envelope).</summary>
    public int MaxEventsPerPost { get; set; } = 100;

    /// <summary>Events whose target has one of these media types are not sent (e.g. <c>application/octet-stream</c> for blobs).</summary>
    public List<string> IgnoredMediaTypes { get; set; } = [];

    /// <summary>Events with one of these actions (push, pull, mount, delete, access.denied, …) are not sent.</summary>
    public List<string> IgnoredActions { get; set; } = [];

    /// <summary>
    /// Whether refused requests' events (access.denied, access.unauthorized, login.failed,
    /// login.throttled) are sent too. Off by default: they name other users and client addresses,
    /// so an endpoint gets them only when the operator opts it in.
    /// </summary>
    public bool Refusals { get; set; }

    public bool Accepts(RegistryEvent @event)
        => (Refusals || !@event.IsRefusal)
            && !IgnoredActions.Contains(@event.Action, StringComparer.OrdinalIgnoreCase)
            && (@event.Target.MediaType is not { } mediaType || !IgnoredMediaTypes.Contains(mediaType, StringComparer.OrdinalIgnoreCase));
}

/// <summary>Refuses webhook settings that cannot work, saying which setting to change.</summary>
public sealed partial class WebhookOptionsValidator : IValidateOptions<WebhookOptions>
{
    private static readonly string[] ReservedHeaders = ["Content-Type", "Content-Length", "Host", "Transfer-Encoding", "Connection"];

    public ValidateOptionsResult Validate(string? name, WebhookOptions options)
    {
        var failures = new List<string>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Endpoints.Count; i++)
        {
            var e = options.Endpoints[i];
            var at = $"{WebhookOptions.Section}:Endpoints:{i}";
            if (string.IsNullOrEmpty(e.Name) || !EndpointName().IsMatch(e.Name))
            {
                failures.Add($"{at}:Name '{e.Name}' is not a valid endpoint name: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.");
            }
            else if (!names.Add(e.Name))
            {
                failures.Add($"{at}:Name '{e.Name}' is used by another endpoint: give every endpoint its own name.");
            }

            if (!Uri.TryCreate(e.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https") || url.Host.Length == 0)
            {
                failures.Add($"{at}:Url '{e.Url}' is not an absolute http(s) URL: use e.g. https://hooks.example.com/registry.");
            }

            foreach (var (header, value) in e.Headers)
            {
                if (!HeaderName().IsMatch(header))
                {
                    failures.Add($"{at}:Headers '{header}' is not a valid HTTP header name: use letters, digits and -!#$%&'*+.^_`|~.");
                }
                else if (ReservedHeaders.Contains(header, StringComparer.OrdinalIgnoreCase))
                {
                    failures.Add($"{at}:Headers:{header} is set by the registry itself: remove it.");
                }

                if (value is null || value.Contains('\r', StringComparison.Ordinal) || value.Contains('\n', StringComparison.Ordinal))
                {
                    failures.Add($"{at}:Headers:{header} has no value or a line break in its value: set a one-line value.");
                }
            }

            Positive(e.Timeout, "Timeout", "00:00:05");
            Positive(e.InitialBackoff, "InitialBackoff", "00:00:01");
            Positive(e.MaxBackoff, "MaxBackoff", "00:05:00");
            if (e.InitialBackoff > e.MaxBackoff)
            {
                failures.Add($"{at}:InitialBackoff {e.InitialBackoff} is longer than {at}:MaxBackoff {e.MaxBackoff}: make MaxBackoff at least InitialBackoff.");
            }

            if (e.FailureThreshold < 1)
            {
                failures.Add($"{at}:FailureThreshold {e.FailureThreshold} must be at least 1 (the default is 5).");
            }

            if (e.MaxPending < 1)
            {
                failures.Add($"{at}:MaxPending {e.MaxPending} must be at least 1 (the default is 10000).");
            }

            if (e.MaxEventsPerPost is < 1 or > 1000)
            {
                failures.Add($"{at}:MaxEventsPerPost {e.MaxEventsPerPost} must be between 1 and 1000 (the default is 100).");
            }

            void Positive(TimeSpan value, string setting, string example)
            {
                if (value <= TimeSpan.Zero)
                {
                    failures.Add($"{at}:{setting} {value} must be a positive duration such as {example}.");
                }
            }
        }

        for (var i = 0; i < options.Purge.Count; i++)
        {
            var purge = options.Purge[i];
            var at = $"{WebhookOptions.Section}:Purge:{i}";
            if (string.IsNullOrEmpty(purge) || !EndpointName().IsMatch(purge))
            {
                failures.Add($"{at} '{purge}' is not a valid endpoint name: list the names of endpoints whose queued events are to be deleted.");
            }
            else if (names.Contains(purge))
            {
                failures.Add($"{at} '{purge}' is a configured endpoint: its queued events are deleted only once it is removed from {WebhookOptions.Section}:Endpoints.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex EndpointName();

    [GeneratedRegex("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")]
    private static partial Regex HeaderName();
}
