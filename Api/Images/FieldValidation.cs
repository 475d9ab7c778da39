using System.Text.Json;
using Registry.Api.Images.OpenApi;
using Registry.Api.Kube;

namespace Registry.Api.Images;

/// <summary>
/// Server-side field validation of the image API's write requests, as Kubernetes does it: the body
/// is checked against the resource's schema (<see cref="ImageApiSchemas"/>) for unknown and
/// duplicate fields; <c>?fieldValidation=Strict</c> refuses them (400 naming each), <c>Warn</c> (the
/// default) answers with a <c>Warning: 299</c> header per field, <c>Ignore</c> does not look.
/// Write handlers call <see cref="CheckRequestAsync"/> before they act; the body stays readable
/// after it (it is buffered and rewound).
/// </summary>
public static class FieldValidation
{
    /// <summary>The largest body checked, as the Kubernetes API server bounds a request (3 MiB); a larger one is 413.</summary>
    public const int MaxBodyBytes = 3 * 1024 * 1024;

    /// <summary>At most this many problems are named (in the Status message or as Warning headers).</summary>
    public const int MaxProblems = 50;

    /// <summary>A field name longer than this is cut in messages.</summary>
    public const int MaxNameLength = 256;

    public const string Strict = "Strict";
    public const string Warn = "Warn";
    public const string Ignore = "Ignore";

    /// <summary>
    /// Checks the request body of a write to <paramref name="resource"/>; null when the request may go
    /// on (with Warning headers added in Warn mode), otherwise the Status to answer.
    /// Bodies that are not JSON objects of the resource (a JSON patch, YAML) are left to the handler.
    /// </summary>
    /// <param name="maxBodyBytes">The largest body read (a write handler's own, smaller limit); larger is 413.</param>
    public static async Task<KubeStatus?> CheckRequestAsync(HttpContext context, string resource, int maxBodyBytes = MaxBodyBytes)
    {
        var directive = context.Request.Query["fieldValidation"].ToString();
        if (directive.Length == 0)
        {
            directive = Warn;
        }

        if (directive is not (Strict or Warn or Ignore))
        {
            return KubeStatus.BadRequest($"fieldValidation \"{directive}\" is not valid: use Ignore, Warn or Strict");
        }

        if (directive == Ignore || ImageApiSchemas.OfResource(resource) is not { } definition || !IsJsonObjectBody(context.Request.ContentType))
        {
            return null;
        }

        maxBodyBytes = Math.Min(maxBodyBytes, MaxBodyBytes);
        if (context.Request.ContentLength > maxBodyBytes)
        {
            return TooLarge(maxBodyBytes);
        }

        context.Request.EnableBuffering(maxBodyBytes);
        var body = await Services.RequestBodies.ReadBoundedAsync(context.Request.Body, maxBodyBytes, context.RequestAborted);
        context.Request.Body.Position = 0;
        if (body is null)
        {
            return TooLarge(maxBodyBytes);
        }

        if (body.Length == 0)
        {
            return null;
        }

        List<string> problems;
        try
        {
            using var document = JsonDocument.Parse(body);
            // A strategic merge patch's directives ($patch, $setElementOrder/…) are no fields: the patch handler judges them.
            problems = Check(document.RootElement, definition, skipDirectives: IsStrategic(context.Request.ContentType));
        }
        catch (JsonException e)
        {
            return KubeStatus.BadRequest($"the request body is not valid JSON: {e.Message}");
        }

        if (problems.Count == 0)
        {
            return null;
        }

        if (directive == Strict)
        {
            var kind = definition.Kind!.Kind;
            return KubeStatus.BadRequest($"{kind} in version \"v1\" cannot be handled as a {kind}: strict decoding error: {string.Join(", ", problems)}");
        }

        foreach (var problem in problems)
        {
            context.Response.Headers.Append("Warning", $"299 - {Quote(problem)}");
        }

        return null;
    }

    /// <summary>The unknown and duplicate fields of <paramref name="value"/> as an object of <paramref name="definition"/>, by their paths (<c>spec.tags[0].x</c>).</summary>
    public static List<string> Check(JsonElement value, TypeDefinition definition, bool skipDirectives = false)
    {
        var problems = new List<string>();
        CheckObject(value, definition, "", problems, skipDirectives);
        return problems;
    }

    private static bool IsStrategic(string? contentType)
        => (contentType ?? "").Split(';')[0].Trim().Equals("application/strategic-merge-patch+json", StringComparison.OrdinalIgnoreCase);

    private static void CheckObject(JsonElement value, TypeDefinition definition, string path, List<string> problems, bool skipDirectives)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in value.EnumerateObject())
        {
            if (problems.Count >= MaxProblems)
            {
                return;
            }

            if (skipDirectives && property.Name.StartsWith('$'))
            {
                continue;
            }

            var at = path.Length == 0 ? Printable(property.Name) : $"{path}.{Printable(property.Name)}";
            if (!seen.Add(property.Name))
            {
                problems.Add($"duplicate field \"{at}\"");
                continue;
            }

            // Field names are matched exactly, as the API server's strict decoder does ("Spec" is unknown).
            if (definition.Fields.FirstOrDefault(f => f.Name == property.Name) is not { } field)
            {
                problems.Add($"unknown field \"{at}\"");
                continue;
            }

            CheckValue(property.Value, field.Type, at, problems, skipDirectives);
        }
    }

    private static void CheckValue(JsonElement value, FieldType type, string path, List<string> problems, bool skipDirectives)
    {
        switch (type)
        {
            case FieldType.Reference reference:
                CheckObject(value, ImageApiSchemas.Definitions[reference.Definition], path, problems, skipDirectives);
                break;
            case FieldType.Array array when value.ValueKind == JsonValueKind.Array:
                var i = 0;
                foreach (var item in value.EnumerateArray())
                {
                    CheckValue(item, array.Items, $"{path}[{i++}]", problems, skipDirectives);
                }

                break;
            case FieldType.Map { Values: FieldType.Reference } map when value.ValueKind == JsonValueKind.Object:
                foreach (var entry in value.EnumerateObject())
                {
                    CheckValue(entry.Value, map.Values, $"{path}[{Printable(entry.Name)}]", problems, skipDirectives);
                }

                break;
        }
    }

    /// <summary>JSON bodies of whole or partial objects: plain JSON, merge and strategic merge patches (not JSON patches, which are lists of operations, nor YAML).</summary>
    private static bool IsJsonObjectBody(string? contentType)
    {
        var type = (contentType ?? "").Split(';')[0].Trim().ToLowerInvariant();
        return type is "" or "application/json" or "application/merge-patch+json" or "application/strategic-merge-patch+json";
    }

    /// <summary>
    /// A field name as it may appear in a message and a header: printable ASCII, anything else as
    /// <c>\uXXXX</c> (a header cannot carry control characters, and a name cannot inject one), at
    /// most <see cref="MaxNameLength"/> characters.
    /// </summary>
    private static string Printable(string name)
    {
        var text = new System.Text.StringBuilder(Math.Min(name.Length, MaxNameLength));
        foreach (var c in name)
        {
            if (text.Length >= MaxNameLength)
            {
                text.Append("...");
                break;
            }

            if (c is >= ' ' and <= '~')
            {
                text.Append(c);
            }
            else
            {
                text.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
        }

        return text.ToString();
    }

    private static KubeStatus TooLarge(int maxBytes) => KubeStatus.RequestEntityTooLarge($"the request body is larger than {maxBytes} bytes");

    /// <summary>A quoted string of a Warning header (RFC 9110): backslash before every quote and backslash.</summary>
    private static string Quote(string text) => "\"" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
