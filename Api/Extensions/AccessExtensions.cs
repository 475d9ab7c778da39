using Microsoft.Extensions.Options;
using Registry.Api.Access;
using Registry.Silo;

namespace Registry.Api.Extensions;

public static class AccessExtensions
{
    /// <summary>Accounts, tokens and the access check of every request (<c>Registry:Access</c>).</summary>
    public static AccessOptions AddRegistryAccess(this WebApplicationBuilder builder, RegistryOptions silo, ApiOptions api)
    {
        var options = builder.Configuration.BindValidated(AccessOptions.Section, new AccessOptionsValidator());
        if (options.OffSwitchFailure(ListenAddresses(builder.Configuration, api)) is { } offSwitch)
        {
            throw new OptionsValidationException(AccessOptions.Section, typeof(AccessOptions), [offSwitch]);
        }

        if (options.Enabled && silo.Mode == RegistryMode.Cluster && options.AdminPassword.Length == 0)
        {
            throw new OptionsValidationException(AccessOptions.Section, typeof(AccessOptions), [$"{AccessOptions.Section}:AdminPassword must be set in cluster mode (e.g. from a Kubernetes Secret): there is no data directory to write a generated one to."]);
        }

        var services = builder.Services;
        services.AddSingleton(Options.Create(options));
        services.AddSingleton<Authorizer>();
        services.AddRegistryPolicy();
        services.AddSingleton<TokenService>();
        services.AddSingleton<CredentialVerifier>();
        services.AddSingleton<Authenticator>();
        services.AddSingleton<LoginThrottle>();
        if (options.Enabled)
        {
            services.AddHostedService<LoginRefusalFeed>();
        }

        services.AddSingleton<AccessAudit>();
        services.AddSingleton<SubjectIdentities>();
        services.AddSingleton<AccessGate>();
        services.AddSingleton<ApiAccess>();
        services.AddSingleton<CatalogAccess>();
        services.AddSingleton<AccessEndpoints>();
        services.AddHostedService<AdminBootstrap>();
        builder.AddRegistryIdentities(options);
        return options;
    }

    /// <summary>Every address Kestrel binds: <c>Registry:Listen</c> (a <c>;</c>-separated list, as Kestrel reads it) and any <c>Kestrel:Endpoints</c>, which take precedence over it.</summary>
    private static IEnumerable<string> ListenAddresses(IConfiguration configuration, ApiOptions api)
        => api.Listen.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Concat(configuration.GetSection("Kestrel:Endpoints").GetChildren().Select(e => e["Url"]).OfType<string>());

    /// <summary>Maps the token endpoint and "who am I" when access control is on, and guards <c>/metrics</c> as <c>Registry:Access:Metrics</c> says.</summary>
    public static void MapRegistryAccess(this WebApplication app)
    {
        if (!app.Services.GetRequiredService<IOptions<AccessOptions>>().Value.Enabled)
        {
            return;
        }

        var endpoints = app.Services.GetRequiredService<AccessEndpoints>();
        app.MapGet(AccessEndpoints.TokenPath, (Delegate)endpoints.GetTokenAsync);
        app.MapPost(AccessEndpoints.TokenPath, (Delegate)endpoints.PostTokenAsync).DisableAntiforgery();
        SelfSubjectReviewEndpoint.Map(app);
        app.MapRegistryPolicy();
        app.MapRegistryIdentities();

        var metrics = app.Services.GetRequiredService<IOptions<AccessOptions>>().Value.Metrics;
        if (metrics != MetricsAccess.Public)
        {
            // /metrics is not a route handler (no endpoint filter): a middleware in front of it.
            app.Use(async (context, next) =>
            {
                if (context.Request.Path.Equals("/metrics", StringComparison.OrdinalIgnoreCase)
                    && await MetricsRefusalAsync(context, metrics) is { } refused)
                {
                    await refused.ExecuteAsync(context);
                    return;
                }

                await next(context);
            });
        }
    }

    private static async ValueTask<IResult?> MetricsRefusalAsync(HttpContext context, MetricsAccess metrics)
    {
        var access = context.RequestServices.GetRequiredService<ApiAccess>();
        if (await access.AuthenticateAsync(context) is { } failed)
        {
            return failed;
        }

        var caller = ApiAccess.CallerOf(context)!;
        AccessItem[] required = metrics == MetricsAccess.Admin ? [AccessItem.WholeRegistry(Actions.Admin)] : [];
        return caller.Identity.IsAnonymous
            ? await access.RefuseAsync(context, caller, required)
            : await access.CheckAsync(context, required);
    }
}
