using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Registry.Api.Images.OpenApi;

/// <summary>
/// The OpenAPI documents of the image API, built once from <see cref="ImageApiSchemas"/>: the
/// Swagger 2.0 document of <c>/openapi/v2</c> and the OpenAPI 3.0 group document of
/// <c>/openapi/v3/apis/image.openshift.io/v1</c>, with the paths and operations kubectl looks up
/// (a PATCH with <c>fieldValidation</c> is what tells it the server validates fields itself).
/// </summary>
public static class OpenApiDocuments
{
    public const string GroupPath = "apis/" + ImageObjects.Group + "/v1";

    private const string Base = "/" + GroupPath;

    private static readonly Lazy<Document> V2Document = new(() => Document.Of(Build(v3: false)));

    private static readonly Lazy<Document> V3Document = new(() => Document.Of(Build(v3: true)));

    /// <summary>A serialized document and its hash (upper-case hex SHA-512, as Kubernetes names them).</summary>
    public sealed record Document(byte[] Bytes, string Hash)
    {
        public static Document Of(JsonNode node)
        {
            var bytes = Serialize(node);
            return new Document(bytes, Convert.ToHexString(SHA512.HashData(bytes)));
        }
    }

    private static byte[] Serialize(JsonNode node)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            node.WriteTo(writer);
        }

        return buffer.ToArray();
    }

    public static Document V2 => V2Document.Value;

    public static Document V3Group => V3Document.Value;

    /// <summary>The <c>/openapi/v3</c> index: where each group version's document is, under its current hash.</summary>
    public static byte[] V3Index => V3IndexDocument.Value;

    private static readonly Lazy<byte[]> V3IndexDocument = new(() => Serialize(
        new JsonObject { ["paths"] = new JsonObject { [GroupPath] = new JsonObject { ["serverRelativeURL"] = $"/openapi/v3/{GroupPath}?hash={V3Group.Hash}" } } }));

    /// <summary>How a resource is served: its path name, definition, list definition, scope and verbs.</summary>
    private sealed record ResourcePaths(string Resource, string Kind, string Definition, string? ListDefinition, bool Namespaced, bool Writable, bool AllNamespaces);

    private static readonly ResourcePaths[] Resources =
    [
        new("imagestreams", "ImageStream", ImageApiSchemas.ImageStream, ImageApiSchemas.ImageStreamList, Namespaced: true, Writable: true, AllNamespaces: true),
        new("imagestreamtags", "ImageStreamTag", ImageApiSchemas.ImageStreamTag, ImageApiSchemas.ImageStreamTagList, Namespaced: true, Writable: true, AllNamespaces: true),
        new("imagestreamimages", "ImageStreamImage", ImageApiSchemas.ImageStreamImage, null, Namespaced: true, Writable: false, AllNamespaces: false),
        new("images", "Image", ImageApiSchemas.Image, ImageApiSchemas.ImageList, Namespaced: false, Writable: false, AllNamespaces: false),
    ];

    private static JsonObject Build(bool v3)
    {
        var paths = new JsonObject();
        foreach (var r in Resources)
        {
            var collection = r.Namespaced ? $"{Base}/namespaces/{{namespace}}/{r.Resource}" : $"{Base}/{r.Resource}";
            var gvk = Gvk(r.Kind);
            var scope = r.Namespaced ? "Namespaced" : "";
            if (r.ListDefinition is { } list)
            {
                var ops = new JsonObject { ["get"] = Operation(v3, $"list or watch objects of kind {r.Kind}", $"list{scope}{r.Kind}", "list", gvk, ListParameters(v3), Response(v3, list)) };
                if (r.Writable)
                {
                    ops["post"] = Operation(v3, $"create {r.Kind}", $"create{scope}{r.Kind}", "post", gvk, WriteParameters(v3), Response(v3, r.Definition), Body(v3, r.Definition, ["*/*"]));
                }

                ops["parameters"] = PathParameters(v3, r.Namespaced, name: false);
                paths[collection] = ops;
            }

            var item = new JsonObject { ["get"] = Operation(v3, $"read the specified {r.Kind}", $"read{scope}{r.Kind}", "get", gvk, [], Response(v3, r.Definition)) };
            if (r.Writable)
            {
                item["put"] = Operation(v3, $"replace the specified {r.Kind}", $"replace{scope}{r.Kind}", "put", gvk, WriteParameters(v3), Response(v3, r.Definition), Body(v3, r.Definition, ["*/*"]));
                item["patch"] = Operation(v3, $"partially update the specified {r.Kind}", $"patch{scope}{r.Kind}", "patch", gvk, WriteParameters(v3), Response(v3, r.Definition), Body(v3, ImageApiSchemas.Patch, ["application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml"]));
                item["delete"] = Operation(v3, $"delete {r.Kind}", $"delete{scope}{r.Kind}", "delete", gvk, [QueryParameter(v3, "dryRun", "When present, indicates that modifications should not be persisted.")], Response(v3, ImageApiSchemas.Status), Body(v3, ImageApiSchemas.DeleteOptions, ["*/*"]));
            }

            item["parameters"] = PathParameters(v3, r.Namespaced, name: true);
            paths[$"{collection}/{{name}}"] = item;

            if (r.AllNamespaces)
            {
                paths[$"{Base}/{r.Resource}"] = new JsonObject
                {
                    ["get"] = Operation(v3, $"list or watch objects of kind {r.Kind} in every namespace", $"list{r.Kind}ForAllNamespaces", "list", gvk, ListParameters(v3), Response(v3, r.ListDefinition!)),
                };
            }
        }

        var schemas = new JsonObject();
        foreach (var definition in ImageApiSchemas.Definitions.Values.OrderBy(d => d.Name, StringComparer.Ordinal))
        {
            schemas[definition.Name] = Definition(v3, definition);
        }

        schemas[ImageApiSchemas.Patch] = new JsonObject { ["description"] = "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.", ["type"] = "object" };
        var info = new JsonObject { ["title"] = "Registry image API (image.openshift.io/v1)", ["version"] = "v1" };
        return v3
            ? new JsonObject { ["openapi"] = "3.0.0", ["info"] = info, ["paths"] = paths, ["components"] = new JsonObject { ["schemas"] = schemas } }
            : new JsonObject { ["swagger"] = "2.0", ["info"] = info, ["paths"] = paths, ["definitions"] = schemas };
    }

    private static JsonObject Gvk(string kind) => new() { ["group"] = ImageObjects.Group, ["kind"] = kind, ["version"] = "v1" };

    private static string Ref(bool v3, string definition) => v3 ? $"#/components/schemas/{definition}" : $"#/definitions/{definition}";

    private static JsonObject Operation(bool v3, string description, string id, string action, JsonObject gvk, JsonNode[] parameters, JsonObject response, JsonObject? body = null)
    {
        var operation = new JsonObject
        {
            ["description"] = description,
            ["operationId"] = id.Replace("Namespaced", "ImageOpenshiftIoV1Namespaced", StringComparison.Ordinal),
            ["tags"] = new JsonArray("imageOpenshiftIo_v1"),
        };
        if (parameters.Length > 0)
        {
            operation["parameters"] = new JsonArray(parameters);
        }

        if (body is not null)
        {
            if (v3)
            {
                operation["requestBody"] = body;
            }
            else
            {
                operation["consumes"] = body["consumes"]!.DeepClone();
                var parametersArray = operation["parameters"] as JsonArray ?? [];
                parametersArray.Insert(0, new JsonObject { ["in"] = "body", ["name"] = "body", ["required"] = true, ["schema"] = body["schema"]!.DeepClone() });
                operation["parameters"] = parametersArray;
            }
        }

        if (!v3)
        {
            operation["produces"] = new JsonArray("application/json");
            operation["schemes"] = new JsonArray("https");
        }

        operation["responses"] = new JsonObject { ["200"] = response, ["401"] = new JsonObject { ["description"] = "Unauthorized" } };
        operation["x-kubernetes-action"] = action;
        operation["x-kubernetes-group-version-kind"] = gvk.DeepClone();
        return operation;
    }

    private static JsonObject Response(bool v3, string definition)
        => v3
            ? new JsonObject { ["description"] = "OK", ["content"] = new JsonObject { ["application/json"] = new JsonObject { ["schema"] = new JsonObject { ["$ref"] = Ref(true, definition) } } } }
            : new JsonObject { ["description"] = "OK", ["schema"] = new JsonObject { ["$ref"] = Ref(false, definition) } };

    /// <summary>v3: a requestBody; v2: what <see cref="Operation"/> turns into a body parameter and <c>consumes</c>.</summary>
    private static JsonObject Body(bool v3, string definition, string[] contentTypes)
    {
        if (!v3)
        {
            return new JsonObject { ["consumes"] = new JsonArray(contentTypes.Select(c => (JsonNode?)c).ToArray()), ["schema"] = new JsonObject { ["$ref"] = Ref(false, definition) } };
        }

        var content = new JsonObject();
        foreach (var type in contentTypes)
        {
            content[type] = new JsonObject { ["schema"] = new JsonObject { ["$ref"] = Ref(true, definition) } };
        }

        return new JsonObject { ["content"] = content, ["required"] = true };
    }

    private static JsonObject QueryParameter(bool v3, string name, string description, string type = "string")
        => v3
            ? new JsonObject { ["name"] = name, ["in"] = "query", ["description"] = description, ["schema"] = new JsonObject { ["type"] = type, ["uniqueItems"] = true } }
            : new JsonObject { ["name"] = name, ["in"] = "query", ["description"] = description, ["type"] = type, ["uniqueItems"] = true };

    private static JsonNode[] ListParameters(bool v3) =>
    [
        QueryParameter(v3, "allowWatchBookmarks", "allowWatchBookmarks requests watch events with type \"BOOKMARK\", sent every Registry:ImageApi:WatchBookmarkInterval.", "boolean"),
        QueryParameter(v3, "continue", "The continue option should be set when retrieving more results from the server."),
        QueryParameter(v3, "fieldSelector", "A selector to restrict the list of returned objects by their fields: metadata.name=<name> (watch of image streams)."),
        QueryParameter(v3, "limit", "limit is a maximum number of responses to return for a list call.", "integer"),
        QueryParameter(v3, "resourceVersion", "resourceVersion sets a constraint on what resource versions a request may be served from."),
        QueryParameter(v3, "timeoutSeconds", "Timeout for the list/watch call.", "integer"),
        QueryParameter(v3, "watch", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.", "boolean"),
    ];

    private static JsonNode[] WriteParameters(bool v3) =>
    [
        QueryParameter(v3, "dryRun", "When present, indicates that modifications should not be persisted."),
        QueryParameter(v3, "fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes."),
        QueryParameter(v3, "fieldValidation", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields: Ignore, Warn (the default) or Strict."),
    ];

    private static JsonArray PathParameters(bool v3, bool namespaced, bool name)
    {
        var parameters = new JsonArray();
        if (name)
        {
            parameters.Add(PathParameter(v3, "name", "name of the object"));
        }

        if (namespaced)
        {
            parameters.Add(PathParameter(v3, "namespace", "object name and auth scope, such as for teams and projects"));
        }

        parameters.Add(QueryParameter(v3, "pretty", "If 'true', then the output is pretty printed."));
        return parameters;
    }

    private static JsonObject PathParameter(bool v3, string name, string description)
        => v3
            ? new JsonObject { ["name"] = name, ["in"] = "path", ["description"] = description, ["required"] = true, ["schema"] = new JsonObject { ["type"] = "string", ["uniqueItems"] = true } }
            : new JsonObject { ["name"] = name, ["in"] = "path", ["description"] = description, ["required"] = true, ["type"] = "string", ["uniqueItems"] = true };

    private static JsonObject Definition(bool v3, TypeDefinition definition)
    {
        var properties = new JsonObject();
        foreach (var field in definition.Fields)
        {
            var schema = Field(v3, field.Type, top: true);
            schema["description"] = field.Description;
            if (field.MergeKey is { } key)
            {
                schema["x-kubernetes-patch-merge-key"] = key;
                schema["x-kubernetes-patch-strategy"] = "merge";
            }

            properties[field.Name] = schema;
        }

        var result = new JsonObject { ["description"] = definition.Description, ["type"] = "object", ["properties"] = properties };
        if (definition.Fields.Where(f => f.Required).Select(f => (JsonNode?)f.Name).ToArray() is { Length: > 0 } required)
        {
            result["required"] = new JsonArray(required);
        }

        if (definition.Kind is { } kind)
        {
            result["x-kubernetes-group-version-kind"] = new JsonArray(new JsonObject { ["group"] = kind.Group, ["kind"] = kind.Kind, ["version"] = kind.Version });
        }

        return result;
    }

    /// <summary>
    /// A field's schema. A reference with a description of its own is wrapped in <c>allOf</c> in
    /// v3 (a <c>$ref</c> may have no siblings there), as Kubernetes writes it; v2 keeps them side by side.
    /// </summary>
    private static JsonObject Field(bool v3, FieldType type, bool top) => type switch
    {
        FieldType.Scalar s when s.Format is { } format => new JsonObject { ["type"] = s.Type, ["format"] = format },
        FieldType.Scalar s => new JsonObject { ["type"] = s.Type },
        FieldType.Reference r when v3 && top => new JsonObject { ["default"] = new JsonObject(), ["allOf"] = new JsonArray(new JsonObject { ["$ref"] = Ref(true, r.Definition) }) },
        FieldType.Reference r => new JsonObject { ["$ref"] = Ref(v3, r.Definition) },
        FieldType.Array a => new JsonObject { ["type"] = "array", ["items"] = Field(v3, a.Items, top: false) },
        FieldType.Map m => new JsonObject { ["type"] = "object", ["additionalProperties"] = Field(v3, m.Values, top: false) },
        _ => new JsonObject { ["type"] = "object", ["x-kubernetes-preserve-unknown-fields"] = true },
    };
}
