using Registry.Api.Kube;
using Registry.Api.Lifecycle;
using Registry.Grains;

namespace Registry.Api.Images;

/// <summary>
/// Immutable tag rules (docs/immutable-tags.md) as the image API's tag writes apply them: every
/// write that moves or deletes tags gets the repository's rules here and passes them to the
/// grain, which decides in its own turn; a refusal is answered with <see cref="Refused"/>.
/// </summary>
public sealed class ImageTagGuard(IGrainFactory grains, ImmutableTagLookup lookup)
{
    /// <summary>The rules whose repository glob matches <paramref name="repository"/> (none costs no grain call).</summary>
    public ValueTask<IReadOnlyList<ImmutableTagRule>> RulesAsync(string repository) => lookup.ForRepositoryAsync(repository);

    /// <summary>
    /// Whether moving <paramref name="tag"/> from <paramref name="current"/> to <paramref name="digest"/>
    /// would be refused, asked before an image is copied in so a refusal stores nothing; the grain
    /// decides again in its turn (a concurrent change may come between).
    /// </summary>
    public async Task<IResult?> MoveRefusalAsync(string repository, string tag, string? current, string digest, string name)
    {
        if (current is null || current == digest)
        {
            return null;
        }

        var rule = (await RulesAsync(repository)).FirstOrDefault(r => r.Protects(tag));
        return rule is null ? null : Refused(repository, tag, rule.Name, name, "imagestreamtags");
    }

    /// <summary><see cref="IRepositoryGrain.TagManifest"/> with the repository's rules on the move.</summary>
    public async Task<TagMoveResult> TagManifestAsync(string repository, TagMove move)
        => await grains.GetGrain<IRepositoryGrain>(repository).TagManifest(move with { ImmutableTagRules = await RulesAsync(repository) });

    /// <summary><see cref="IRepositoryGrain.DeleteTagGuarded"/> with the repository's rules.</summary>
    public async Task<GuardedDeleteResult> DeleteTagAsync(string repository, string tag)
        => await grains.GetGrain<IRepositoryGrain>(repository).DeleteTagGuarded(tag, await RulesAsync(repository));

    /// <summary><see cref="IRepositoryGrain.DeleteImageStream"/> with the repository's rules.</summary>
    public async Task<GuardedDeleteResult> DeleteStreamAsync(string repository)
        => await grains.GetGrain<IRepositoryGrain>(repository).DeleteImageStream(await RulesAsync(repository));

    /// <summary>
    /// The answer to a change a rule refused: 409 <c>Conflict</c>, not 422 (the request is valid
    /// and would pass for a tag that does not exist yet; it conflicts with what is stored) nor 403
    /// (no permission helps). The message and <c>details.causes</c> name the tag and the rule.
    /// </summary>
    public static IResult Refused(string repository, string tag, string? rule, string name, string kind)
        => KubeStatus.Conflict($"'{repository}:{tag}' is configured as immutable by rule '{rule}': it cannot be moved to another image or deleted, nor its image stream")
            .WithDetails(new StatusDetails(name, ImageObjects.Group, kind, [new StatusCause(ImmutableTagCause, $"rule '{rule}' protects tag '{tag}' of {repository}")]));

    /// <summary>The <c>details.causes[].reason</c> of a refusal by a rule.</summary>
    public const string ImmutableTagCause = "ImmutableTag";
}
