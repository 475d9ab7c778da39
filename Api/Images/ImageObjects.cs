using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Registry.Grains;

namespace Registry.Api.Images;

/// <summary>Builds the image.openshift.io/v1 objects from what the grains keep.</summary>
public static class ImageObjects
{
    public const string Group = "image.openshift.io";
    public const string ApiVersion = "image.openshift.io/v1";

    private static readonly Dictionary<string, string> ImageAnnotations = new(StringComparer.Ordinal)
    {
        ["openshift.io/image.managed"] = "true",
        ["image.openshift.io/manifestBlobStored"] = "true",
        ["image.openshift.io/dockerLayersOrder"] = "ascending",
    };

    public static ImageStream Stream(string repository, ImageStreamView view, RegistryHosts hosts)
    {
        var (ns, name) = ImageNames.StreamOf(repository)!.Value;
        var internalRepository = $"{hosts.Internal}/{repository}";
        var tags = view.Tags
            .Where(t => t.History.Count > 0)
            .Select(t => new NamedTagEventList(t.Tag, t.History.Select(h => new TagEvent(Time(h.Created), $"{internalRepository}@{h.Digest}", h.Digest, h.Generation)).ToArray()))
            .ToArray();
        return new ImageStream(
            "ImageStream",
            ApiVersion,
            StreamMeta(repository, ns, name, view),
            new ImageStreamSpec(new LookupPolicy(false), view.Spec?.Tags.Select(Reference).ToArray() ?? []),
            new ImageStreamStatus(internalRepository, hosts.Public is { } pub ? $"{pub}/{repository}" : null, tags));
    }

    public static ObjectMeta StreamMeta(string repository, string ns, string name, ImageStreamView view)
        => new(name, ns, Uid($"imagestream\n{repository}\n{view.Created.UtcTicks}"), Version(view.Sequence), Time(view.Created), Math.Max(1, view.Generation), view.Spec?.Annotations, view.Spec?.Labels);

    /// <summary>A stored spec tag as a TagReference.</summary>
    public static TagReference Reference(SpecTag tag)
        => new(
            tag.Name,
            tag.Annotations,
            tag.From is { } from ? new ObjectReference(from.Kind, from.Name, from.Namespace) : null,
            tag.Reference,
            tag.Generation,
            new TagImportPolicy(tag.Insecure, tag.Scheduled, tag.ImportMode),
            new TagReferencePolicy(tag.ReferencePolicy));

    public static ImageStreamTag Tag(string repository, ImageStreamView view, ImageStreamTagView tag, Image image)
    {
        var (ns, name) = ImageNames.StreamOf(repository)!.Value;
        var meta = new ObjectMeta($"{name}:{tag.Tag}", ns, Uid($"imagestreamtag\n{repository}\n{view.Created.UtcTicks}\n{tag.Tag}"), Version(view.Sequence), Time(tag.History[^1].Created));
        var spec = view.Spec?.Tags.FirstOrDefault(t => t.Name == tag.Tag) is { } stored ? Reference(stored) : null;
        return new ImageStreamTag("ImageStreamTag", ApiVersion, meta, spec, tag.History[0].Generation, new LookupPolicy(false), image);
    }

    public static ImageStreamImage StreamImage(string repository, ImageStreamView view, Image image)
    {
        var (ns, name) = ImageNames.StreamOf(repository)!.Value;
        var meta = new ObjectMeta($"{name}@{image.Metadata.Name}", ns, image.Metadata.Uid, Version(view.Sequence), image.Metadata.CreationTimestamp);
        return new ImageStreamImage("ImageStreamImage", ApiVersion, meta, image);
    }

    /// <param name="repository">A repository that holds the image, for <c>dockerImageReference</c>; null when none was named.</param>
    public static Image Image(ImageFacts facts, string? repository, RegistryHosts hosts)
    {
        var meta = new ObjectMeta(facts.Digest, null, Uid($"image\n{facts.Digest}"), "1", Time(facts.ComputedAt), Annotations: ImageAnnotations);
        var config = facts.Config;
        var metadata = config is null
            ? null
            : new DockerImageMetadata(
                "DockerImage",
                "image.openshift.io/1.0",
                facts.ConfigBlob?.Digest,
                config.Created,
                new DockerConfig(config.Env, config.Cmd, config.Entrypoint, config.Labels, config.WorkingDir, config.User),
                config.Architecture,
                config.Os,
                facts.Size);
        return new Image(
            "Image",
            ApiVersion,
            meta,
            repository is null ? null : $"{hosts.Internal}/{repository}@{facts.Digest}",
            metadata,
            "1.0",
            facts.Layers.Select(l => new ImageLayerDocument(l.Digest, l.Size, l.MediaType)).ToArray(),
            facts.MediaType,
            facts.Manifests.Count == 0 ? null : facts.Manifests.Select(m => new ImageManifestDocument(m.Digest, m.MediaType, m.Size, m.Architecture ?? "", m.Os ?? "", m.Variant)).ToArray());
    }

    /// <summary>RFC 3339 in UTC to the second, as Kubernetes writes times.</summary>
    public static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>
    /// A resourceVersion from a log position or a repository's sequence, one above it: a list taken
    /// before the log has its first event (position 0) still names a point a watch can resume from.
    /// </summary>
    public static string Version(long sequence) => (sequence + 1).ToString(CultureInfo.InvariantCulture);

    /// <summary>The log position a resourceVersion of <see cref="Version"/> stands for (never "0", which Kubernetes reserves for "any").</summary>
    public static long Position(long version) => version - 1;

    /// <summary>A stable uid: the same object gets the same one on every replica, a recreated stream a new one.</summary>
    public static string Uid(string identity)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(identity), hash);
        hash[6] = (byte)((hash[6] & 0x0f) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3f) | 0x80);
        return new Guid(hash[..16], bigEndian: true).ToString();
    }
}

/// <summary>The host names images are referred to by: internal (configured, or the request's Host) and public (configured, or none).</summary>
public sealed record RegistryHosts(string Internal, string? Public);
