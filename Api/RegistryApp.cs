using Registry.Api.Extensions;
using Registry.Silo;

namespace Registry.Api;

/// <summary>Builds the registry host; <c>Program</c> runs it and the tests start it on a free port.</summary>
public static class RegistryApp
{
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // Settings files sit next to the binaries; relative data paths still resolve from the working directory.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        configure?.Invoke(builder);
        var silo = builder.AddRegistrySilo();
        var api = builder.AddRegistryApi();
        builder.AddRegistryAccess(silo, api);
        builder.AddRegistryEvents();
        builder.AddRegistryImageApi();
        builder.AddRegistryGarbageCollection();
        builder.AddRegistryImmutableTags();
        builder.AddRegistryQuotas();
        builder.AddRegistryRetention();
        builder.AddRegistryObservability();

        var app = builder.Build();
        app.LogStartup(api, silo);
        app.MapRegistryObservability();
        app.MapRegistryAccess();
        app.MapOciApi();
        app.MapRegistryEvents();
        app.MapRegistryImageApi();
        app.MapRegistryGarbageCollection();
        app.MapRegistryImmutableTags();
        app.MapRegistryQuotas();
        app.MapRegistryRetention();
        return app;
    }
}
