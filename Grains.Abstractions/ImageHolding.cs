namespace Registry.Grains;

/// <summary>
/// Which repositories hold an image, as its grain knows it (<see cref="IImageGrain.Recheck"/>).
/// <see cref="Tracked"/> is false for an image no holding repository was ever recorded for (pushed
/// before holders were kept, or whose record was lost): then nothing is known of its deletion.
/// An image is deleted when it is tracked and <see cref="Holders"/> is 0.
/// </summary>
[GenerateSerializer, Immutable, Alias("registry.image-holding")]
public sealed record ImageHolding(
    [property: Id(0)] bool Tracked,
    [property: Id(1)] int Holders,
    [property: Id(2)] string? LastRepository,
    [property: Id(3)] IReadOnlyList<string> Repositories)
{
    public static readonly ImageHolding Unknown = new(false, 0, null, []);

    /// <summary>Whether no repository holds the image any more (as far as the holders recorded tell).</summary>
    public bool Deleted => Tracked && Holders == 0;
}
