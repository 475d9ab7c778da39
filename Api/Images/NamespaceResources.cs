using Registry.Api.Kube;
using Registry.Grains;

namespace Registry.Api.Images;

/// <summary>
/// Core v1 <c>namespaces</c>, read-only: the first components of repository names that are
/// Kubernetes namespaces. Served because kubectl, when a namespaced object is not found, asks
/// for its namespace to word the error (and <c>kubectl get namespaces</c> lists where streams are).
/// </summary>
public sealed class NamespaceResources(IGrainFactory grains, IImageApiAccess access)
{
    /// <summary>The most namespaces one list returns; each costs one catalog step.</summary>
    private const int MaxList = 1000;

    public static readonly ApiResourceList Resources = new("APIResourceList", "v1", "v1", [new("namespaces", "namespace", false, "Namespace", ["get", "list"], ["ns"])]);

    private static readonly TableColumn[] Columns =
    [
        new("Name", "string", "name", "Name must be unique.", 0),
        new("Status", "string", "", "The phase of the namespace.", 0),
    ];

    public void Map(WebApplication app)
    {
        app.MapGet("/api/v1", () => ImageApiDiscovery.Json(Resources, ImageApiJsonContext.Default.ApiResourceList));
        app.MapGet("/api/v1/namespaces", (Delegate)ListAsync);
        app.MapGet("/api/v1/namespaces/{ns}", (HttpContext context, string ns) => GetAsync(context, ns));
    }

    private async Task<IResult> GetAsync(HttpContext context, string ns)
    {
        if (await access.CheckAsync(context, ImageAccessNeed.Of("namespaces", "get", null, ns)) is { } refused)
        {
            return refused;
        }

        if (!ImageNames.IsNamespace(ns) || await FirstAfterAsync(ns + "/") is not { } first || !first.StartsWith(ns + "/", StringComparison.Ordinal))
        {
            return KubeStatus.NotFound($"namespaces \"{ns}\" not found");
        }

        var item = Namespace(ns);
        return ImageTables.Wanted(context.Request)
            ? ImageApiDiscovery.Json(Table([item]), ImageApiJsonContext.Default.Table)
            : ImageApiDiscovery.Json(item, ImageApiJsonContext.Default.NamespaceObject);
    }

    /// <summary>Skips from namespace to namespace: after <c>ns/</c> + U+FFFF comes the first name of the next first component.</summary>
    private async Task<IResult> ListAsync(HttpContext context)
    {
        if (await access.CheckAsync(context, ImageAccessNeed.Of("namespaces", "list", null)) is { } refused)
        {
            return refused;
        }

        var items = new List<NamespaceObject>();
        string? last = null;
        while (items.Count < MaxList && await FirstAfterAsync(last) is { } name)
        {
            var slash = name.IndexOf('/', StringComparison.Ordinal);
            var first = slash < 0 ? name : name[..slash];
            if (slash > 0 && ImageNames.IsNamespace(first))
            {
                items.Add(Namespace(first));
            }

            last = slash < 0 ? name : first + "/\uffff";
        }

        return ImageTables.Wanted(context.Request)
            ? ImageApiDiscovery.Json(Table(items), ImageApiJsonContext.Default.Table)
            : ImageApiDiscovery.Json(new NamespaceList("NamespaceList", "v1", new ListMeta("1"), items), ImageApiJsonContext.Default.NamespaceList);
    }

    private async Task<string?> FirstAfterAsync(string? last)
        => (await RegistryCatalog.ListAsync(grains, last, 1)).Names is [var first, ..] ? first : null;

    private static NamespaceObject Namespace(string ns)
        => new("Namespace", "v1", new ObjectMeta(ns, null, ImageObjects.Uid($"namespace\n{ns}"), "1", ImageObjects.Time(DateTimeOffset.UnixEpoch)), new NamespaceStatus("Active"));

    private static Table Table(IEnumerable<NamespaceObject> items)
        => new("Table", "meta.k8s.io/v1", new ListMeta("1"), Columns, items.Select(n => new TableRow([n.Metadata.Name, n.Status.Phase], new PartialObjectMetadata("PartialObjectMetadata", "meta.k8s.io/v1", n.Metadata))).ToArray());
}

public sealed record NamespaceObject(string Kind, string ApiVersion, ObjectMeta Metadata, NamespaceStatus Status);

public sealed record NamespaceStatus(string Phase);

public sealed record NamespaceList(string Kind, string ApiVersion, ListMeta Metadata, IReadOnlyList<NamespaceObject> Items);
