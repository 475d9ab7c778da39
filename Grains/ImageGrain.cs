using Orleans.Runtime;

namespace Registry.Grains;

[GenerateSerializer, Alias("registry.image-state")]
public sealed class ImageState
{
    [Id(0)] public ImageFacts? Facts { get; set; }
}

/// <summary>Keeps an image's facts once: they derive from content-addressed bytes, so the first kept are the only ones.</summary>
public sealed class ImageGrain(
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

        return facts;
    }
}
