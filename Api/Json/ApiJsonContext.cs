using System.Text.Json;
using System.Text.Json.Serialization;
using Registry.Api.Events;
using Registry.Api.Observability;
using Registry.Api.Oci;
using Registry.Api.Services;

namespace Registry.Api.Json;

/// <summary>
/// Every JSON document the API writes or reads, generated at compile time (no reflection, no
/// warm-up). Default encoder and camelCase names: the bytes match what the hand-written writers
/// produced, which clients and tests compare.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(OciErrorEnvelope))]
[JsonSerializable(typeof(TagsPage))]
[JsonSerializable(typeof(CatalogPage))]
[JsonSerializable(typeof(ReferrersIndex))]
[JsonSerializable(typeof(ManifestHeader))]
[JsonSerializable(typeof(ImageManifestDocument))]
[JsonSerializable(typeof(ImageIndexDocument))]
[JsonSerializable(typeof(AuditRecord))]
[JsonSerializable(typeof(AuditRecordId))]
[JsonSerializable(typeof(WatchGap))]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(Registry.Api.Access.TokenResponse))]
[JsonSerializable(typeof(Registry.Api.Kube.StatusDocument))]
[JsonSerializable(typeof(Registry.Api.Access.AccessAuditRecord))]
[JsonSerializable(typeof(Registry.Api.Access.SelfSubjectReview))]
[JsonSerializable(typeof(Registry.Api.Collection.GarbageCollectionRequest))]
[JsonSerializable(typeof(Registry.Api.Collection.GarbageCollectionResource))]
internal sealed partial class ApiJsonContext : JsonSerializerContext;

/// <summary>A string property that is ignored (read as absent) when the document holds another kind of value there.</summary>
internal sealed class LenientStringConverter : JsonConverter<string?>
{
    public override bool HandleNull => true;

    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return reader.GetString();
        }

        reader.Skip();
        return null;
    }

    public override void Write(Utf8JsonWriter writer, string? value, JsonSerializerOptions options) => writer.WriteStringValue(value);
}
