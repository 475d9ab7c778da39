namespace Registry.Api.Images.OpenApi;

/// <summary>The type of a field: a scalar, a reference to a definition, an array, a map or free-form JSON.</summary>
public abstract record FieldType
{
    public static readonly FieldType String = new Scalar("string", null);
    public static readonly FieldType DateTime = new Scalar("string", "date-time");
    public static readonly FieldType Int64 = new Scalar("integer", "int64");
    public static readonly FieldType Int32 = new Scalar("integer", "int32");
    public static readonly FieldType Boolean = new Scalar("boolean", null);

    /// <summary>JSON the schema does not describe (<c>x-kubernetes-preserve-unknown-fields</c>): never checked field by field.</summary>
    public static readonly FieldType FreeForm = new Open();

    public static FieldType Ref(string definition) => new Reference(definition);

    public static FieldType ArrayOf(FieldType items) => new Array(items);

    public static FieldType MapOf(FieldType values) => new Map(values);

    public sealed record Scalar(string Type, string? Format) : FieldType;

    public sealed record Reference(string Definition) : FieldType;

    public sealed record Array(FieldType Items) : FieldType;

    public sealed record Map(FieldType Values) : FieldType;

    public sealed record Open : FieldType;
}

/// <param name="MergeKey">For a list merged by key in a strategic merge patch (<c>x-kubernetes-patch-merge-key</c>): the key.</param>
public sealed record SchemaField(string Name, FieldType Type, string Description, bool Required = false, string? MergeKey = null);

/// <summary>A group, version and kind, as <c>x-kubernetes-group-version-kind</c> names it.</summary>
public sealed record GroupVersionKind(string Group, string Version, string Kind);

/// <summary>One definition of the OpenAPI documents: its fields, and its kind when it is a top-level object.</summary>
public sealed record TypeDefinition(string Name, string Description, IReadOnlyList<SchemaField> Fields, GroupVersionKind? Kind = null);

/// <summary>
/// The schema of the image API, written once in code: what <c>/openapi/v2</c> and <c>/openapi/v3</c>
/// describe (so kubectl validates and explains the resources) and what server-side field validation
/// checks request bodies against. Field names and meanings are those of image.openshift.io/v1 and
/// meta/v1 as the cluster's clients know them.
/// </summary>
public static class ImageApiSchemas
{
    public const string ImagePrefix = "com.github.openshift.api.image.v1.";
    public const string MetaPrefix = "io.k8s.apimachinery.pkg.apis.meta.v1.";
    public const string CorePrefix = "io.k8s.api.core.v1.";

    public const string ImageStream = ImagePrefix + "ImageStream";
    public const string ImageStreamList = ImagePrefix + "ImageStreamList";
    public const string ImageStreamTag = ImagePrefix + "ImageStreamTag";
    public const string ImageStreamTagList = ImagePrefix + "ImageStreamTagList";
    public const string ImageStreamImage = ImagePrefix + "ImageStreamImage";
    public const string Image = ImagePrefix + "Image";
    public const string ImageList = ImagePrefix + "ImageList";
    public const string Status = MetaPrefix + "Status";
    public const string ObjectMeta = MetaPrefix + "ObjectMeta";
    public const string ListMeta = MetaPrefix + "ListMeta";
    public const string WatchEvent = MetaPrefix + "WatchEvent";
    public const string Patch = MetaPrefix + "Patch";
    public const string DeleteOptions = MetaPrefix + "DeleteOptions";

    private static SchemaField ApiVersion => new("apiVersion", FieldType.String, "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.");

    private static SchemaField Kind => new("kind", FieldType.String, "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. In CamelCase.");

    private static SchemaField Metadata => new("metadata", FieldType.Ref(ObjectMeta), "Standard object's metadata.");

    private static SchemaField ListMetadata => new("metadata", FieldType.Ref(ListMeta), "Standard list metadata.");

    private static GroupVersionKind Gvk(string kind) => new(ImageObjects.Group, "v1", kind);

    private static TypeDefinition List(string name, string kind, string item, string description)
        => new(name, description, [ApiVersion, new("items", FieldType.ArrayOf(FieldType.Ref(item)), $"Items is a list of {kind[..^4]} objects.", Required: true), Kind, ListMetadata], Gvk(kind));

    /// <summary>Every definition, by name.</summary>
    public static readonly IReadOnlyDictionary<string, TypeDefinition> Definitions = new TypeDefinition[]
    {
        new(ImageStream, "An ImageStream stores a mapping of tags to images, metadata overrides that are applied when images are tagged in a stream, and an optional reference to a container image repository on a registry. In this registry an image stream is a repository: its namespace is the repository name's first component, its name the rest with '~' for '/'.",
            [ApiVersion, Kind, Metadata,
             new("spec", FieldType.Ref(ImagePrefix + "ImageStreamSpec"), "Spec describes the desired state of this stream."),
             new("status", FieldType.Ref(ImagePrefix + "ImageStreamStatus"), "Status describes the current state of this stream.")],
            Gvk("ImageStream")),
        new(ImagePrefix + "ImageStreamSpec", "ImageStreamSpec represents options for ImageStreams.",
            [new("lookupPolicy", FieldType.Ref(ImagePrefix + "ImageLookupPolicy"), "lookupPolicy controls how other resources reference images within this namespace."),
             new("dockerImageRepository", FieldType.String, "dockerImageRepository is optional, if specified this stream is backed by a container repository on this server. Deprecated."),
             new("tags", FieldType.ArrayOf(FieldType.Ref(ImagePrefix + "TagReference")), "tags map arbitrary string values to specific image locators. A tag whose from is an ImageStreamTag of this stream tracks it; an ImageStreamImage or another stream's tag is resolved once; a DockerImage is stored, not imported.", MergeKey: "name")]),
        new(ImagePrefix + "ImageLookupPolicy", "ImageLookupPolicy describes how an image stream can be used to override the image references used by pods, builds, and other resources in a namespace.",
            [new("local", FieldType.Boolean, "local will change the docker short image references (like \"mysql\" or \"php:latest\") on objects in this namespace to the image ID whenever they match this image stream, instead of reaching out to a remote registry.", Required: true)]),
        new(ImagePrefix + "TagReference", "TagReference specifies optional annotations for images using this tag and an optional reference to an ImageStreamTag, ImageStreamImage, or DockerImage this tag should track.",
            [new("name", FieldType.String, "Name of the tag", Required: true),
             new("annotations", FieldType.MapOf(FieldType.String), "Optional; if specified, annotations that are applied to images retrieved via ImageStreamTags."),
             new("from", FieldType.Ref(CorePrefix + "ObjectReference"), "Optional; if specified, a reference to another image that this tag should point to. Valid values are ImageStreamTag, ImageStreamImage, and DockerImage. ImageStreamTag references can only reference a tag within this same ImageStream."),
             new("reference", FieldType.Boolean, "Reference states if the tag will be imported. Default value is false, which means the tag will be imported."),
             new("generation", FieldType.Int64, "Generation is a counter that tracks mutations to the spec tag (user intent). When a tag reference is changed the generation is set to match the current stream generation (which is incremented every time spec is changed)."),
             new("importPolicy", FieldType.Ref(ImagePrefix + "TagImportPolicy"), "ImportPolicy is information that controls how images may be imported by the server."),
             new("referencePolicy", FieldType.Ref(ImagePrefix + "TagReferencePolicy"), "ReferencePolicy defines how other components should consume the image.")]),
        new(ImagePrefix + "TagImportPolicy", "TagImportPolicy controls how images related to this tag will be imported.",
            [new("insecure", FieldType.Boolean, "Insecure is true if the server may bypass certificate verification or connect directly over HTTP during image import."),
             new("scheduled", FieldType.Boolean, "Scheduled indicates to the server that this tag should be periodically checked to ensure it is up to date, and imported"),
             new("importMode", FieldType.String, "ImportMode describes how to import an image manifest: Legacy or PreserveOriginal.")]),
        new(ImagePrefix + "TagReferencePolicy", "TagReferencePolicy describes how pull-specs for images in this image stream tag are generated when image change triggers in deployment configs or builds are resolved.",
            [new("type", FieldType.String, "Type determines how the image pull spec should be transformed when the image stream tag is used: Source or Local.", Required: true)]),
        new(CorePrefix + "ObjectReference", "ObjectReference contains enough information to let you inspect or modify the referred object.",
            [new("apiVersion", FieldType.String, "API version of the referent."),
             new("fieldPath", FieldType.String, "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement."),
             new("kind", FieldType.String, "Kind of the referent: ImageStreamTag, ImageStreamImage or DockerImage."),
             new("name", FieldType.String, "Name of the referent."),
             new("namespace", FieldType.String, "Namespace of the referent."),
             new("resourceVersion", FieldType.String, "Specific resourceVersion to which this reference is made, if any."),
             new("uid", FieldType.String, "UID of the referent.")]),
        new(ImagePrefix + "ImageStreamStatus", "ImageStreamStatus contains information about the state of this image stream.",
            [new("dockerImageRepository", FieldType.String, "DockerImageRepository represents the effective location this stream may be accessed at.", Required: true),
             new("publicDockerImageRepository", FieldType.String, "PublicDockerImageRepository represents the public location from where the image can be pulled outside the cluster."),
             new("tags", FieldType.ArrayOf(FieldType.Ref(ImagePrefix + "NamedTagEventList")), "Tags are a historical record of images associated with each tag. The first entry in the TagEvent array is the currently tagged image.")]),
        new(ImagePrefix + "NamedTagEventList", "NamedTagEventList relates a tag to its image history.",
            [new("tag", FieldType.String, "Tag is the tag for which the history is recorded", Required: true),
             new("items", FieldType.ArrayOf(FieldType.Ref(ImagePrefix + "TagEvent")), "Standard object's metadata.", Required: true),
             new("conditions", FieldType.ArrayOf(FieldType.Ref(ImagePrefix + "TagEventCondition")), "Conditions is an array of conditions that apply to the tag event list.")]),
        new(ImagePrefix + "TagEvent", "TagEvent is used by ImageStreamStatus to keep a historical record of images associated with a tag.",
            [new("created", FieldType.DateTime, "Created holds the time the TagEvent was created", Required: true),
             new("dockerImageReference", FieldType.String, "DockerImageReference is the string that can be used to pull this image", Required: true),
             new("image", FieldType.String, "Image is the image", Required: true),
             new("generation", FieldType.Int64, "Generation is the spec tag generation that resulted in this tag being updated", Required: true)]),
        new(ImagePrefix + "TagEventCondition", "TagEventCondition contains condition information for a tag event.",
            [new("type", FieldType.String, "Type of tag event condition, currently only ImportSuccess", Required: true),
             new("status", FieldType.String, "Status of the condition, one of True, False, Unknown.", Required: true),
             new("lastTransitionTime", FieldType.DateTime, "LastTransitionTIme is the time the condition transitioned from one status to another."),
             new("reason", FieldType.String, "Reason is a brief machine readable explanation for the condition's last transition."),
             new("message", FieldType.String, "Message is a human readable description of the details about last transition, complementing reason."),
             new("generation", FieldType.Int64, "Generation is the spec tag generation that this status corresponds to", Required: true)]),
        List(ImageStreamList, "ImageStreamList", ImageStream, "ImageStreamList is a list of ImageStream objects."),
        new(ImageStreamTag, "ImageStreamTag represents an Image that is retrieved by tag name from an ImageStream.",
            [ApiVersion, Kind, Metadata,
             new("tag", FieldType.Ref(ImagePrefix + "TagReference"), "tag is the spec tag associated with this image stream tag, and it may be null if only pushes have occurred to this image stream.", Required: true),
             new("generation", FieldType.Int64, "generation is the current generation of the tagged image - if tag is provided and this value is not equal to the tag generation, a user has requested an import that has not completed, or conditions will be filled out indicating any error.", Required: true),
             new("lookupPolicy", FieldType.Ref(ImagePrefix + "ImageLookupPolicy"), "lookupPolicy indicates whether this tag will handle image references in this namespace.", Required: true),
             new("conditions", FieldType.ArrayOf(FieldType.Ref(ImagePrefix + "TagEventCondition")), "conditions is an array of conditions that apply to the image stream tag."),
             new("image", FieldType.Ref(Image), "image associated with the ImageStream and tag.", Required: true)],
            Gvk("ImageStreamTag")),
        List(ImageStreamTagList, "ImageStreamTagList", ImageStreamTag, "ImageStreamTagList is a list of ImageStreamTag objects."),
        new(ImageStreamImage, "ImageStreamImage represents an Image that is retrieved by image name from an ImageStream: <stream>@<digest or a unique prefix of it>.",
            [ApiVersion, Kind, Metadata,
             new("image", FieldType.Ref(Image), "Image associated with the ImageStream and image name.", Required: true)],
            Gvk("ImageStreamImage")),
        new(Image, "Image is an immutable representation of a container image and metadata at a point in time. Images are named by the digest of their manifest.",
            [ApiVersion, Kind, Metadata,
             new("dockerImageReference", FieldType.String, "DockerImageReference is the string that can be used to pull this image."),
             new("dockerImageMetadata", FieldType.FreeForm, "DockerImageMetadata contains metadata about this image"),
             new("dockerImageMetadataVersion", FieldType.String, "DockerImageMetadataVersion conveys the version of the object, which if empty defaults to \"1.0\""),
             new("dockerImageManifest", FieldType.String, "DockerImageManifest is the raw JSON of the manifest"),
             new("dockerImageLayers", FieldType.ArrayOf(FieldType.Ref(ImagePrefix + "ImageLayer")), "DockerImageLayers represents the layers in the image. May not be set if the image does not define that data or if the image represents a manifest list.", Required: true),
             new("signatures", FieldType.ArrayOf(FieldType.FreeForm), "Signatures holds all signatures of the image."),
             new("dockerImageSignatures", FieldType.ArrayOf(FieldType.String), "DockerImageSignatures provides the signatures as opaque blobs. This is a part of manifest schema v1."),
             new("dockerImageManifestMediaType", FieldType.String, "DockerImageManifestMediaType specifies the mediaType of manifest. This is a part of manifest schema v2."),
             new("dockerImageConfig", FieldType.String, "DockerImageConfig is a JSON blob that the runtime uses to set up the container. This is a part of manifest schema v2."),
             new("dockerImageManifests", FieldType.ArrayOf(FieldType.Ref(ImagePrefix + "ImageManifest")), "DockerImageManifests holds information about sub-manifests when the image represents a manifest list.")],
            Gvk("Image")),
        new(ImagePrefix + "ImageLayer", "ImageLayer represents a single layer of the image.",
            [new("name", FieldType.String, "Name of the layer as defined by the underlying store.", Required: true),
             new("size", FieldType.Int64, "Size of the layer in bytes as defined by the underlying store.", Required: true),
             new("mediaType", FieldType.String, "MediaType of the referenced object.", Required: true)]),
        new(ImagePrefix + "ImageManifest", "ImageManifest represents sub-manifests of a manifest list.",
            [new("digest", FieldType.String, "Digest is the unique identifier for the manifest.", Required: true),
             new("mediaType", FieldType.String, "MediaType defines the type of the manifest.", Required: true),
             new("manifestSize", FieldType.Int64, "ManifestSize represents the size of the raw object contents, in bytes.", Required: true),
             new("architecture", FieldType.String, "Architecture specifies the supported CPU architecture.", Required: true),
             new("os", FieldType.String, "OS specifies the operating system.", Required: true),
             new("variant", FieldType.String, "Variant is an optional field repreenting a variant of the CPU.")]),
        List(ImageList, "ImageList", Image, "ImageList is a list of Image objects."),
        new(ObjectMeta, "ObjectMeta is metadata that all persisted resources must have.",
            [new("annotations", FieldType.MapOf(FieldType.String), "Annotations is an unstructured key value map stored with a resource."),
             new("creationTimestamp", FieldType.DateTime, "CreationTimestamp is a timestamp representing the server time when this object was created. Read-only."),
             new("deletionGracePeriodSeconds", FieldType.Int64, "Number of seconds allowed for this object to gracefully terminate before it will be removed from the system."),
             new("deletionTimestamp", FieldType.DateTime, "DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted."),
             new("finalizers", FieldType.ArrayOf(FieldType.String), "Must be empty before the object is deleted from the registry."),
             new("generateName", FieldType.String, "GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided."),
             new("generation", FieldType.Int64, "A sequence number representing a specific generation of the desired state. Read-only."),
             new("labels", FieldType.MapOf(FieldType.String), "Map of string keys and values that can be used to organize and categorize objects."),
             new("managedFields", FieldType.ArrayOf(FieldType.FreeForm), "ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow."),
             new("name", FieldType.String, "Name must be unique within a namespace."),
             new("namespace", FieldType.String, "Namespace defines the space within which each name must be unique."),
             new("ownerReferences", FieldType.ArrayOf(FieldType.FreeForm), "List of objects depended by this object."),
             new("resourceVersion", FieldType.String, "An opaque value that represents the internal version of this object that can be used by clients to determine when objects have changed. Read-only."),
             new("selfLink", FieldType.String, "Deprecated: selfLink is a legacy read-only field that is no longer populated by the system."),
             new("uid", FieldType.String, "UID is the unique in time and space value for this object. Read-only.")]),
        new(ListMeta, "ListMeta describes metadata that synthetic resources must have, including lists and various status objects.",
            [new("continue", FieldType.String, "continue may be set if the user set a limit on the number of items returned, and indicates that the server has more data available."),
             new("remainingItemCount", FieldType.Int64, "remainingItemCount is the number of subsequent items in the list which are not included in this list response."),
             new("resourceVersion", FieldType.String, "String that identifies the server's internal version of this object that can be used by clients to determine when objects have changed."),
             new("selfLink", FieldType.String, "Deprecated: selfLink is a legacy read-only field that is no longer populated by the system.")]),
        new(Status, "Status is a return value for calls that don't return other objects.",
            [ApiVersion,
             new("code", FieldType.Int32, "Suggested HTTP return code for this status, 0 if not set."),
             new("details", FieldType.Ref(MetaPrefix + "StatusDetails"), "Extended data associated with the reason."),
             Kind,
             new("message", FieldType.String, "A human-readable description of the status of this operation."),
             ListMetadata,
             new("reason", FieldType.String, "A machine-readable description of why this operation is in the \"Failure\" status."),
             new("status", FieldType.String, "Status of the operation. One of: \"Success\" or \"Failure\".")],
            new GroupVersionKind("", "v1", "Status")),
        new(MetaPrefix + "StatusDetails", "StatusDetails is a set of additional properties that MAY be set by the server to provide additional information about a response.",
            [new("causes", FieldType.ArrayOf(FieldType.Ref(MetaPrefix + "StatusCause")), "The Causes array includes more details associated with the StatusReason failure."),
             new("group", FieldType.String, "The group attribute of the resource associated with the status StatusReason."),
             new("kind", FieldType.String, "The kind attribute of the resource associated with the status StatusReason."),
             new("name", FieldType.String, "The name attribute of the resource associated with the status StatusReason."),
             new("retryAfterSeconds", FieldType.Int32, "If specified, the time in seconds before the operation should be retried."),
             new("uid", FieldType.String, "UID of the resource.")]),
        new(MetaPrefix + "StatusCause", "StatusCause provides more information about an api.Status failure, including cases when multiple errors are encountered.",
            [new("field", FieldType.String, "The field of the resource that has caused this error, as named by its JSON serialization."),
             new("message", FieldType.String, "A human-readable description of the cause of the error."),
             new("reason", FieldType.String, "A machine-readable description of the cause of the error.")]),
        new(WatchEvent, "Event represents a single event to a watched resource.",
            [new("object", FieldType.FreeForm, "Object is: the object of the event (ADDED, MODIFIED, DELETED), a Status (ERROR), or an object with only its kind, apiVersion and metadata.resourceVersion (BOOKMARK).", Required: true),
             new("type", FieldType.String, "ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.", Required: true)],
            new GroupVersionKind(ImageObjects.Group, "v1", "WatchEvent")),
        new(DeleteOptions, "DeleteOptions may be provided when deleting an API object.",
            [ApiVersion,
             new("dryRun", FieldType.ArrayOf(FieldType.String), "When present, indicates that modifications should not be persisted."),
             new("gracePeriodSeconds", FieldType.Int64, "The duration in seconds before the object should be deleted."),
             Kind,
             new("preconditions", FieldType.FreeForm, "Must be fulfilled before a deletion is carried out."),
             new("propagationPolicy", FieldType.String, "Whether and how garbage collection will be performed.")],
            new GroupVersionKind(ImageObjects.Group, "v1", "DeleteOptions")),
    }.ToDictionary(d => d.Name, StringComparer.Ordinal);

    /// <summary>The definition of a resource's objects (what a create or update sends), or null for a resource the image API does not have.</summary>
    public static TypeDefinition? OfResource(string resource) => resource switch
    {
        "imagestreams" => Definitions[ImageStream],
        "imagestreamtags" => Definitions[ImageStreamTag],
        "imagestreamimages" => Definitions[ImageStreamImage],
        "images" => Definitions[Image],
        _ => null,
    };
}
