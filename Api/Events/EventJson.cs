using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Registry.Grains;

namespace Registry.Api.Events;

/// <summary>
/// An event as JSON in the shape of an event of the reference registry's notification envelope
/// (<c>id</c>, <c>timestamp</c>, <c>action</c>, <c>target</c>, <c>request</c>, <c>actor</c>,
/// <c>source</c>), which webhook consumers already understand. Absent values are left out.
/// </summary>
public static class EventJson
{
    public static byte[] Serialize(RegistryEvent e)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            Write(json, e);
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static void Write(Utf8JsonWriter json, RegistryEvent e)
    {
        json.WriteStartObject();
        json.WriteString("id", e.Id);
        json.WriteString("timestamp", e.Timestamp.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
        json.WriteString("action", e.Action);

        var t = e.Target;
        json.WriteStartObject("target");
        WriteIfPresent(json, "mediaType", t.MediaType);
        WriteIfPresent(json, "digest", t.Digest);
        json.WriteNumber("size", t.Size);
        json.WriteNumber("length", t.Size);
        json.WriteString("repository", t.Repository);
        WriteIfPresent(json, "fromRepository", t.FromRepository);
        WriteIfPresent(json, "url", t.Url);
        WriteIfPresent(json, "tag", t.Tag);
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
        WriteIfPresent(json, "name", e.Actor);
        json.WriteEndObject();

        json.WriteStartObject("source");
        json.WriteString("addr", e.Source.Addr);
        json.WriteString("instanceID", e.Source.InstanceId);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static void WriteIfPresent(Utf8JsonWriter json, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            json.WriteString(name, value);
        }
    }
}
