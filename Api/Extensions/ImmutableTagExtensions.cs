using Registry.Api.Lifecycle;

namespace Registry.Api.Extensions;

public static class ImmutableTagExtensions
{
    /// <summary>Immutable tag rules (docs/immutable-tags.md): the lookup every tag change consults, and the API that manages them.</summary>
    public static void AddRegistryImmutableTags(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ImmutableTagLookup>();
        builder.Services.AddSingleton<ImmutableTagEndpoints>();
    }

    /// <summary>Maps <c>/apis/registry/v1/namespaces/{ns}/immutabletagrules</c> and <c>/apis/registry/v1/immutabletagrules</c>, with access control on or off.</summary>
    public static void MapRegistryImmutableTags(this WebApplication app)
        => ImmutableTagEndpoints.Map(app, app.Services.GetRequiredService<ImmutableTagEndpoints>());
}
