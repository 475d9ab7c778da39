using Orleans.Runtime;

namespace Registry.Grains;

[GenerateSerializer, Alias("registry.image-state")]
public sealed class ImageState
{
    [Id(0)] public ImageFacts? Facts { get; set; }

    // Holders (ImageHolders.cs): ids 1-9.

    /// <summary>The repositories known to hold the manifest.</summary>
    [Id(1)] public HashSet<string> Holders { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Whether a holding repository was ever recorded (so an empty <see cref="Holders"/> means deleted).</summary>
    [Id(2)] public bool Tracked { get; set; }

    /// <summary>The repository of the last recorded change of holding: the reference of the image once deleted.</summary>
    [Id(3)] public string? LastRepository { get; set; }
}

/// <summary>Keeps an image's facts once: they derive from content-addressed bytes, so the first kept are the only ones.</summary>
public sealed partial class ImageGrain(
    [PersistentState("image", GrainStorageNames.Provider)] IPersistentState<ImageState> state) : Grain, IImageGrain
{
    public ValueTask<ImageFacts?> Get() => ValueTask.FromResult(state.State.Facts);

    public async Task<ImageFacts> Keep(ImageFacts facts)
    {
        if (state.State.Facts is { } kept)
        {
            return kept;
        }

        if (facts.Digest != this.GetPrimaryKeyString())
        {
            throw new ArgumentException($"facts of {facts.Digest} sent to image {this.GetPrimaryKeyString()}", nameof(facts));
        }

        state.State.Facts = facts;
        await WriteAsync();
        return facts;
    }

    private async Task WriteAsync()
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            // As every grain here: the next call reloads what is stored, so nothing unstored is acknowledged.
            DeactivateOnIdle();
            throw;
        }
    }
}
