using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Registry.Api.Images;

// The wire shapes of image.openshift.io/v1 and of the meta/v1 documents kubectl reads around them,
// with the field names the cluster's clients parse. Null fields are left out.

public sealed record ObjectMeta(
    string Name,
    string? Namespace,
    string Uid,
    string ResourceVersion,
    string CreationTimestamp,
    long? Generation = null,
    IReadOnlyDictionary<string, string>? Annotations = null,
    IReadOnlyDictionary<string, string>? Labels = null);

public sealed record ListMeta(string ResourceVersion, [property: JsonPropertyName("continue")] string? Continue = null);

public sealed record ImageStream(string Kind, string ApiVersion, ObjectMeta Metadata, ImageStreamSpec Spec, ImageStreamStatus Status);

/// <summary>The stream's spec: its spec tags as stored (docs/image-api.md#spec-tags).</summary>
public sealed record ImageStreamSpec(LookupPolicy LookupPolicy, IReadOnlyList<TagReference> Tags);

/// <summary>A spec tag: what the user asked the tag to point at (or follow), as the cluster's clients read it.</summary>
public sealed record TagReference(
    string Name,
    IReadOnlyDictionary<string, string>? Annotations,
    ObjectReference? From,
    bool Reference,
    long? Generation,
    TagImportPolicy ImportPolicy,
    TagReferencePolicy ReferencePolicy);

public sealed record ObjectReference(string Kind, string Name, string? Namespace);

public sealed record TagImportPolicy(bool Insecure, bool Scheduled, string ImportMode);

public sealed record TagReferencePolicy(string Type);

public sealed record LookupPolicy(bool Local);

public sealed record ImageStreamStatus(string DockerImageRepository, string? PublicDockerImageRepository, IReadOnlyList<NamedTagEventList> Tags);

public sealed record NamedTagEventList(string Tag, IReadOnlyList<TagEvent> Items);

public sealed record TagEvent(string Created, string DockerImageReference, string Image, long Generation);

public sealed record ImageStreamList(string Kind, string ApiVersion, ListMeta Metadata, IReadOnlyList<ImageStream> Items);

public sealed record ImageStreamTag(string Kind, string ApiVersion, ObjectMeta Metadata, TagReference? Tag, long Generation, LookupPolicy LookupPolicy, Image Image);

public sealed record ImageStreamTagList(string Kind, string ApiVersion, ListMeta Metadata, IReadOnlyList<ImageStreamTag> Items);

public sealed record ImageStreamImage(string Kind, string ApiVersion, ObjectMeta Metadata, Image Image);

public sealed record Image(
    string Kind,
    string ApiVersion,
    ObjectMeta Metadata,
    string? DockerImageReference,
    DockerImageMetadata? DockerImageMetadata,
    string DockerImageMetadataVersion,
    IReadOnlyList<ImageLayerDocument> DockerImageLayers,
    string DockerImageManifestMediaType,
    IReadOnlyList<ImageManifestDocument>? DockerImageManifests);

public sealed record ImageList(string Kind, string ApiVersion, ListMeta Metadata, IReadOnlyList<Image> Items);

public sealed record ImageLayerDocument(string Name, long Size, string MediaType);

public sealed record ImageManifestDocument(string Digest, string MediaType, long ManifestSize, string Architecture, string Os, string? Variant);

/// <summary><c>dockerImageMetadata</c>: the Docker image JSON, whose fields are capitalised.</summary>
public sealed record DockerImageMetadata(
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("apiVersion")] string ApiVersion,
    [property: JsonPropertyName("Id")] string? Id,
    [property: JsonPropertyName("Created")] string? Created,
    [property: JsonPropertyName("Config")] DockerConfig? Config,
    [property: JsonPropertyName("Architecture")] string? Architecture,
    [property: JsonPropertyName("Os")] string? Os,
    [property: JsonPropertyName("Size")] long Size);

public sealed record DockerConfig(
    [property: JsonPropertyName("Env")] IReadOnlyList<string>? Env,
    [property: JsonPropertyName("Cmd")] IReadOnlyList<string>? Cmd,
    [property: JsonPropertyName("Entrypoint")] IReadOnlyList<string>? Entrypoint,
    [property: JsonPropertyName("Labels")] IReadOnlyDictionary<string, string>? Labels,
    [property: JsonPropertyName("WorkingDir")] string? WorkingDir,
    [property: JsonPropertyName("User")] string? User);

// Discovery.

public sealed record ApiVersions(string Kind, IReadOnlyList<string> Versions, [property: JsonPropertyName("serverAddressByClientCIDRs")] IReadOnlyList<ServerAddressByClientCidr> ServerAddresses);

public sealed record ServerAddressByClientCidr([property: JsonPropertyName("clientCIDR")] string ClientCidr, string ServerAddress);

public sealed record ApiGroupList(string Kind, string ApiVersion, IReadOnlyList<ApiGroup> Groups);

public sealed record ApiGroup(string Kind, string ApiVersion, string Name, IReadOnlyList<GroupVersion> Versions, GroupVersion PreferredVersion);

public sealed record GroupVersion([property: JsonPropertyName("groupVersion")] string Name, string Version);

public sealed record ApiResourceList(string Kind, string ApiVersion, string GroupVersion, IReadOnlyList<ApiResource> Resources);

public sealed record ApiResource(string Name, string SingularName, bool Namespaced, string Kind, IReadOnlyList<string> Verbs, IReadOnlyList<string>? ShortNames = null, IReadOnlyList<string>? Categories = null);

public sealed record VersionInfo(string Major, string Minor, string GitVersion, string GitCommit, string GitTreeState, string BuildDate, string GoVersion, string Compiler, string Platform);

// Server-side printing (meta.k8s.io/v1 Table).

public sealed record Table(string Kind, string ApiVersion, ListMeta Metadata, IReadOnlyList<TableColumn> ColumnDefinitions, IReadOnlyList<TableRow> Rows);

public sealed record TableColumn(string Name, string Type, string Format, string Description, int Priority);

public sealed record TableRow(IReadOnlyList<string> Cells, PartialObjectMetadata Object);

public sealed record PartialObjectMetadata(string Kind, string ApiVersion, ObjectMeta Metadata);

/// <summary>Every document of the image API, generated at compile time.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ImageStream))]
[JsonSerializable(typeof(ImageStreamList))]
[JsonSerializable(typeof(ImageStreamTag))]
[JsonSerializable(typeof(ImageStreamTagList))]
[JsonSerializable(typeof(ImageStreamImage))]
[JsonSerializable(typeof(Image))]
[JsonSerializable(typeof(ImageList))]
[JsonSerializable(typeof(ApiVersions))]
[JsonSerializable(typeof(ApiGroupList))]
[JsonSerializable(typeof(ApiGroup))]
[JsonSerializable(typeof(ApiResourceList))]
[JsonSerializable(typeof(VersionInfo))]
[JsonSerializable(typeof(Table))]
[JsonSerializable(typeof(WatchEvent))]
[JsonSerializable(typeof(JsonElement))]
[JsonSerializable(typeof(NamespaceObject))]
[JsonSerializable(typeof(NamespaceList))]
[JsonSerializable(typeof(JsonObject))]
internal sealed partial class ImageApiJsonContext : JsonSerializerContext;
