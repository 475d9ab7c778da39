using System.Globalization;

namespace Registry.Api.Images;

/// <summary>
/// Server-side printing: the meta.k8s.io/v1 <c>Table</c> kubectl asks for with
/// <c>Accept: application/json;as=Table;v=v1;g=meta.k8s.io</c>, with the columns <c>oc get</c> prints.
/// </summary>
public static class ImageTables
{
    /// <summary>How wide the TAGS cell grows before the rest are counted, as <c>oc get is</c> does.</summary>
    private const int TagsWidth = 40;

    private static readonly TableColumn Name = new("Name", "string", "name", "Name must be unique within a namespace.", 0);

    private static readonly TableColumn[] StreamColumns =
    [
        Name,
        new("Image Repository", "string", "", "Where the stream's images are pulled from.", 0),
        new("Tags", "string", "", "The stream's tags, most recently updated first.", 0),
        new("Updated", "string", "", "When a tag was last updated.", 0),
    ];

    private static readonly TableColumn[] TagColumns =
    [
        Name,
        new("Image Reference", "string", "", "The image the tag points at.", 0),
        new("Updated", "string", "", "When the tag was last updated.", 0),
    ];

    private static readonly TableColumn[] ImageColumns =
    [
        Name,
        new("Image Reference", "string", "", "Where the image was pushed.", 0),
    ];

    /// <summary>Whether the request asks for a Table (kubectl's <c>get</c> without <c>-o json|yaml</c>).</summary>
    public static bool Wanted(HttpRequest request)
        => request.Headers.Accept.Any(a => a is not null && a.Contains("as=Table", StringComparison.Ordinal) && a.Contains("g=meta.k8s.io", StringComparison.Ordinal));

    public static Table Streams(IEnumerable<ImageStream> streams, ListMeta meta, DateTimeOffset now)
        => new("Table", "meta.k8s.io/v1", meta, StreamColumns, streams.Select(s => Row(s.Metadata, s.Metadata.Name, s.Status.PublicDockerImageRepository ?? s.Status.DockerImageRepository, TagsCell(s.Status.Tags), Updated(s.Status.Tags.Select(t => t.Items[0].Created).DefaultIfEmpty().Max(), now))).ToArray());

    public static Table Tags(IEnumerable<ImageStreamTag> tags, ListMeta meta, DateTimeOffset now)
        => new("Table", "meta.k8s.io/v1", meta, TagColumns, tags.Select(t => Row(t.Metadata, t.Metadata.Name, t.Image.DockerImageReference ?? "", Updated(t.Metadata.CreationTimestamp, now))).ToArray());

    public static Table Images(IEnumerable<Image> images, ListMeta meta)
        => new("Table", "meta.k8s.io/v1", meta, ImageColumns, images.Select(i => Row(i.Metadata, i.Metadata.Name, i.DockerImageReference ?? "")).ToArray());

    public static Table StreamImages(IEnumerable<ImageStreamImage> images, ListMeta meta)
        => new("Table", "meta.k8s.io/v1", meta, ImageColumns, images.Select(i => Row(i.Metadata, i.Metadata.Name, i.Image.DockerImageReference ?? "")).ToArray());

    private static TableRow Row(ObjectMeta meta, params string[] cells)
        => new(cells, new PartialObjectMetadata("PartialObjectMetadata", "meta.k8s.io/v1", meta));

    /// <summary>Tag names, the most recently updated first, up to <see cref="TagsWidth"/> characters, then how many more.</summary>
    private static string TagsCell(IReadOnlyList<NamedTagEventList> tags)
    {
        var ordered = tags.OrderByDescending(t => t.Items[0].Created, StringComparer.Ordinal).ThenByDescending(t => t.Items[0].Generation).ThenBy(t => t.Tag, StringComparer.Ordinal).Select(t => t.Tag).ToArray();
        var cell = "";
        for (var i = 0; i < ordered.Length; i++)
        {
            var next = cell.Length == 0 ? ordered[i] : $"{cell},{ordered[i]}";
            if (next.Length > TagsWidth && cell.Length > 0)
            {
                return string.Create(CultureInfo.InvariantCulture, $"{cell} + {ordered.Length - i} more...");
            }

            cell = next;
        }

        return cell;
    }

    /// <summary>"3 minutes ago", as <c>oc</c> words it; empty when there is no time.</summary>
    private static string Updated(string? time, DateTimeOffset now)
        => DateTimeOffset.TryParse(time, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? $"{Human(now - at)} ago" : "";

    /// <summary>The wording of a duration that <c>oc</c> uses (docker's go-units HumanDuration).</summary>
    public static string Human(TimeSpan d)
    {
        var seconds = (long)d.TotalSeconds;
        return seconds switch
        {
            < 1 => "Less than a second",
            1 => "1 second",
            < 60 => $"{seconds} seconds",
            _ => (long)d.TotalMinutes switch
            {
                1 => "About a minute",
                < 60 and var m => $"{m} minutes",
                _ => (long)d.TotalHours switch
                {
                    1 => "About an hour",
                    < 48 and var h => $"{h} hours",
                    < 24 * 7 * 2 => $"{(long)d.TotalHours / 24} days",
                    < 24 * 30 * 2 => $"{(long)d.TotalHours / 24 / 7} weeks",
                    < 24 * 365 * 2 => $"{(long)d.TotalHours / 24 / 30} months",
                    _ => $"{(long)d.TotalHours / 24 / 365} years",
                },
            },
        };
    }
}
