using Registry.Api.Access;
using Registry.Api.Collection;

namespace Registry.Api.Extensions;

public static class GarbageCollectionExtensions
{
    /// <summary>The on-demand collection and its status (docs/garbage-collection.md); the schedule is the maintenance grain's.</summary>
    public static void AddRegistryGarbageCollection(this WebApplicationBuilder builder)
        => builder.Services.AddSingleton<GarbageCollectionEndpoint>();

    public static void MapRegistryGarbageCollection(this WebApplication app)
    {
        var endpoint = app.Services.GetRequiredService<GarbageCollectionEndpoint>();
        app.MapPost(GarbageCollectionEndpoint.Path, (Func<HttpContext, Task<IResult>>)endpoint.StartAsync).RequireRegistryCaller();
        app.MapGet(GarbageCollectionEndpoint.Path + "/last", (Func<HttpContext, Task<IResult>>)endpoint.LastAsync).RequireRegistryCaller();
    }
}
