using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Registry.Api.Images;
using Registry.Api.Images.OpenApi;
using Registry.Silo;

namespace Registry.Api.Extensions;

public static class ImageApiExtensions
{
    /// <summary>The image API (<c>Registry:ImageApi</c>): image streams, their tags and images as image.openshift.io/v1 resources.</summary>
    public static ImageApiOptions AddRegistryImageApi(this WebApplicationBuilder builder)
    {
        RegistrySettings.Verify(builder.Configuration, ("ImageApi", typeof(ImageApiOptions)));
        var options = builder.Configuration.BindValidated(ImageApiOptions.Section, new ImageApiOptionsValidator());
        var services = builder.Services;
        services.AddSingleton(Options.Create(options));
        services.AddSingleton<IImageApiAccess, PolicyImageApiAccess>();
        services.AddSingleton<ImageStreamReader>();
        services.AddSingleton<ImageFactsService>();
        services.AddSingleton<ImageApiHandlers>();
        services.AddSingleton<ImageStreamDocumentCache>();
        services.AddSingleton<ImageStreamWatch>();
        services.AddImageApiWatchAcross();

        // Facts and holders of images kept at push: an in-process subscriber with workers of its own.
        services.AddSingleton<ImageAtPush>();
        services.AddSingleton<Events.IRegistryEventSubscriber>(sp => sp.GetRequiredService<ImageAtPush>());
        services.AddHostedService(sp => sp.GetRequiredService<ImageAtPush>());
        services.AddSingleton<ImageApiEndpoint>();
        services.AddSingleton<ImageStreamWriter>();
        services.AddSingleton<ImageTagGuard>();
        services.AddSingleton<NamespaceResources>();
        services.AddSingleton<ImageStreamMappings>();
        services.AddSingleton<ImageStreamLayersReader>();
        return options;
    }

    /// <summary>Maps discovery (<c>/api</c>, <c>/apis</c>, <c>/version</c>), core v1 namespaces and <c>/apis/image.openshift.io/…</c>.</summary>
    public static void MapRegistryImageApi(this WebApplication app)
    {
        ImageApiDiscovery.Map(app);
        OpenApiEndpoint.Map(app);
        app.Services.GetRequiredService<NamespaceResources>().Map(app);
        var endpoint = app.Services.GetRequiredService<ImageApiEndpoint>();
        app.Map(ImageApiEndpoint.Prefix + "/{**path}", (HttpContext context, string? path) => endpoint.HandleAsync(context, path));
    }
}
