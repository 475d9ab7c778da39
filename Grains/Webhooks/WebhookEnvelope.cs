using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Registry.Grains;

/// <summary>
/// The reference registry's notification envelope, <c>{"events":[...]}</c>, with the fields its
/// webhook consumers read, in its order; plus our <c>generation</c>.
/// </summary>
public static class WebhookEnvelope
{
    public const string MediaType = "application/vnd.docker.distribution.events.v2+json";

    // Media types contain '+', which the default encoder would write as \u002B.
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static byte[] Serialize(IEnumerable<RegistryEvent> events)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var json = new Utf8JsonWriter(buffer, Options))
        {
            json.WriteStartObject();
            json.WriteStartArray("events");
            foreach (var e in events)
            {
                WriteEvent(json, e);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>RFC 3339 in UTC with as many fraction digits as needed, like Go's time.RFC3339Nano.</summary>
    public static string Timestamp(DateTimeOffset time)
        => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);

    /// <summary>One event as a JSON object (the watch endpoint sends these too).</summary>
    public static byte[] SerializeEvent(RegistryEvent e)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer, Options))
        {
            WriteEvent(json, e);
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static void WriteEvent(Utf8JsonWriter json, RegistryEvent e)
    {
        json.WriteStartObject();
        json.WriteString("id", e.Id);
        json.WriteString("timestamp", Timestamp(e.Timestamp));
        json.WriteString("action", e.Action);

        var t = e.Target;
        json.WriteStartObject("target");
        WriteIfSet(json, "mediaType", t.MediaType);
        WriteIfSet(json, "digest", t.Digest);
        json.WriteNumber("size", t.Size);
        json.WriteNumber("length", t.Size);
        json.WriteString("repository", t.Repository);
        WriteIfSet(json, "fromRepository", t.FromRepository);
        WriteIfSet(json, "url", t.Url);
        WriteIfSet(json, "tag", t.Tag);
        json.WriteEndObject();

        var r = e.Request;
        json.WriteStartObject("request");
        json.WriteString("id", r.Id);
        json.WriteString("addr", r.Addr);
        json.WriteString("host", r.Host);
        json.WriteString("method", r.Method);
        json.WriteString("useragent", r.UserAgent);
        json.WriteEndObject();

        json.WriteStartObject("actor");
        WriteIfSet(json, "name", e.Actor);
        json.WriteEndObject();

        json.WriteStartObject("source");
        json.WriteString("addr", e.Source.Addr);
        json.WriteString("instanceID", e.Source.InstanceId);
        json.WriteEndObject();

        json.WriteNumber("generation", e.Generation);
        json.WriteEndObject();
    }

    private static void WriteIfSet(Utf8JsonWriter json, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            json.WriteString(name, value);
        }
    }
}
