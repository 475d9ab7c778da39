using System.Text.RegularExpressions;
using Registry.Api.Oci;

namespace Registry.Api.Images;

/// <summary>
/// Repository names ↔ image streams. The namespace is the repository's first path component and
/// the stream name the rest, with every further <c>/</c> written <see cref="Separator"/>
/// (<c>team/tools/build</c> is stream <c>tools~build</c> in namespace <c>team</c>): Kubernetes
/// names cannot hold <c>/</c>, and <c>~</c> is neither in the repository grammar nor escaped in
/// URLs. A repository whose first component is not a Kubernetes namespace (a DNS label: at most
/// 63 of <c>a-z0-9-</c>), or that has only one component, has no image stream: the image API
/// neither lists nor finds it (<c>/v2</c> serves it as before).
/// </summary>
public static partial class ImageNames
{
    public const char Separator = '~';

    /// <summary>The namespace and stream name of a repository, or null when it has none.</summary>
    public static (string Namespace, string Name)? StreamOf(string repository)
    {
        var slash = repository.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || !IsNamespace(repository[..slash]))
        {
            return null;
        }

        return (repository[..slash], repository[(slash + 1)..].Replace('/', Separator));
    }

    /// <summary>The repository of a stream, or null when the pair names none (then no repository can have it).</summary>
    public static string? RepositoryOf(string ns, string name)
    {
        if (!IsNamespace(ns) || name.Length == 0 || name.Contains('/', StringComparison.Ordinal))
        {
            return null;
        }

        var repository = $"{ns}/{name.Replace(Separator, '/')}";
        return References.IsValidName(repository) ? repository : null;
    }

    /// <summary>Whether a Kubernetes namespace may be the first component of a repository (a DNS label, so also a component).</summary>
    public static bool IsNamespace(string ns) => ns.Length is > 0 and <= 63 && NamespaceRegex().IsMatch(ns);

    /// <summary>Splits <c>stream:tag</c> (an ImageStreamTag's name); null when it is not one.</summary>
    public static (string Stream, string Tag)? SplitTag(string name)
    {
        var colon = name.LastIndexOf(':');
        if (colon <= 0 || colon == name.Length - 1)
        {
            return null;
        }

        var tag = name[(colon + 1)..];
        return References.IsValidTag(tag) ? (name[..colon], tag) : null;
    }

    /// <summary>Splits <c>stream@digest-or-prefix</c> (an ImageStreamImage's name); null when it is not one.</summary>
    public static (string Stream, string Id)? SplitImage(string name)
    {
        var at = name.IndexOf('@', StringComparison.Ordinal);
        if (at <= 0 || at == name.Length - 1)
        {
            return null;
        }

        var id = name[(at + 1)..];
        return IdRegex().IsMatch(id) ? (name[..at], id) : null;
    }

    [GeneratedRegex(@"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\z", RegexOptions.CultureInvariant)]
    private static partial Regex NamespaceRegex();

    // A digest or a prefix of one: "sha256:" and some hex, or hex alone (as the reference server resolves).
    [GeneratedRegex(@"^(?:[a-z0-9]+(?:[.+_-][a-z0-9]+)*:)?[a-f0-9]{1,128}\z", RegexOptions.CultureInvariant)]
    private static partial Regex IdRegex();
}
