using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Registry.Grains;

/// <summary>
/// The JSON of events, shared by webhooks and the watch endpoint: the reference registry's
/// notification envelope, <c>{"events":[...]}</c>, with the fields its
/// webhook consumers read, in its order; plus our <c>generation</c>.
/// </summary>
public static class EventEnvelope
{
    public const string MediaType = "application/vnd.docker.distribution.events.v1+json";

    public static byte[] Serialize(IEnumerable<RegistryEvent> events)
        => JsonSerializer.SerializeToUtf8Bytes(new EnvelopeJson(events.Select(EventJson.Of).ToList()), EventJsonContext.Wire.EnvelopeJson);

    /// <summary>One event as a JSON object (the watch endpoint sends these too).</summary>
    public static byte[] SerializeEvent(RegistryEvent e)
        => JsonSerializer.SerializeToUtf8Bytes(EventJson.Of(e), EventJsonContext.Wire.EventJson);

    /// <summary>RFC 3339 in UTC with as many fraction digits as needed, like Go's time.RFC3339Nano.</summary>
    public static string Timestamp(DateTimeOffset time)
        => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);
}

// The wire shape: property order is declaration order; names are spelled out because consumers
// match them exactly ("useragent", "instanceID"). Optional fields are left out when null or empty.

internal sealed record EnvelopeJson(
    [property: JsonPropertyName("events")] List<EventJson> Events);

internal sealed record EventJson(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("timestamp")] string Timestamp,
    [property: JsonPropertyName("action")] string Action,
    [property: JsonPropertyName("target")] TargetJson Target,
    [property: JsonPropertyName("request")] RequestJson Request,
    [property: JsonPropertyName("actor")] ActorJson Actor,
    [property: JsonPropertyName("source")] SourceJson Source,
    [property: JsonPropertyName("generation")] long Generation,
    [property: JsonPropertyName("refusal"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] RefusalJson? Refusal,
    [property: JsonPropertyName("collection"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] CollectionJson? Collection)
{
    public static EventJson Of(RegistryEvent e)
    {
        var t = e.Target;
        var r = e.Request;
        return new EventJson(
            e.Id,
            EventEnvelope.Timestamp(e.Timestamp),
            e.Action,
            new TargetJson(Optional(t.MediaType), Optional(t.Digest), t.Size, t.Size, t.Repository, Optional(t.FromRepository), Optional(t.Url), Optional(t.Tag)),
            new RequestJson(r.Id, r.Addr, r.Host, r.Method, r.UserAgent),
            new ActorJson(Optional(e.Actor)),
            new SourceJson(e.Source.Addr, e.Source.InstanceId),
            e.Generation,
            e.Refusal is { } refusal ? new RefusalJson(refusal.Status, refusal.Reason, refusal.Scope, refusal.Path) : null,
            e.Collection is { } c
                ? new CollectionJson(c.Run, c.DryRun, c.BlobsExamined, c.BlobsReclaimed, c.BytesReclaimed, c.StraysReclaimed, c.StrayBytesReclaimed, c.RepositoriesRemoved, c.BlobEventsOmitted, c.ManifestsRemoved, c.LinksRemoved, Optional(c.Error))
                : null);
    }

    private static string? Optional(string? value) => string.IsNullOrEmpty(value) ? null : value;
}

internal sealed record TargetJson(
    [property: JsonPropertyName("mediaType"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? MediaType,
    [property: JsonPropertyName("digest"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Digest,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("length")] long Length,
    [property: JsonPropertyName("repository")] string Repository,
    [property: JsonPropertyName("fromRepository"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? FromRepository,
    [property: JsonPropertyName("url"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Url,
    [property: JsonPropertyName("tag"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Tag);

internal sealed record RequestJson(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("addr")] string Addr,
    [property: JsonPropertyName("host")] string Host,
    [property: JsonPropertyName("method")] string Method,
    [property: JsonPropertyName("useragent")] string UserAgent);

internal sealed record ActorJson(
    [property: JsonPropertyName("name"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Name);

internal sealed record SourceJson(
    [property: JsonPropertyName("addr")] string Addr,
    [property: JsonPropertyName("instanceID")] string InstanceId);

/// <summary>Only on a refused request's event: why, what it needed and where it went.</summary>
internal sealed record RefusalJson(
    [property: JsonPropertyName("status")] int Status,
    [property: JsonPropertyName("reason")] string Reason,
    [property: JsonPropertyName("scope")] string Scope,
    [property: JsonPropertyName("path")] string Path);

/// <summary>Only on a garbage collection's event: its run, and on <c>gc.finished</c> its figures.</summary>
internal sealed record CollectionJson(
    [property: JsonPropertyName("run")] string Run,
    [property: JsonPropertyName("dryRun")] bool DryRun,
    [property: JsonPropertyName("blobsExamined")] long BlobsExamined,
    [property: JsonPropertyName("blobsReclaimed")] long BlobsReclaimed,
    [property: JsonPropertyName("bytesReclaimed")] long BytesReclaimed,
    [property: JsonPropertyName("straysReclaimed")] long StraysReclaimed,
    [property: JsonPropertyName("strayBytesReclaimed")] long StrayBytesReclaimed,
    [property: JsonPropertyName("repositoriesRemoved")] long RepositoriesRemoved,
    [property: JsonPropertyName("blobEventsOmitted")] long BlobEventsOmitted,
    [property: JsonPropertyName("manifestsRemoved")] long ManifestsRemoved,
    [property: JsonPropertyName("linksRemoved")] long LinksRemoved,
    [property: JsonPropertyName("error"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error);

[JsonSerializable(typeof(EnvelopeJson))]
[JsonSerializable(typeof(EventJson))]
internal sealed partial class EventJsonContext : JsonSerializerContext
{
    /// <summary>
    /// Media types contain '+', which the default encoder writes as \u002B; consumers expect it
    /// literally (the attribute options cannot name an encoder, so the context gets them here).
    /// </summary>
    public static EventJsonContext Wire { get; } = new(new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
}
