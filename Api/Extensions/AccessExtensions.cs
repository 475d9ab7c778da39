using Microsoft.Extensions.Options;
using Registry.Api.Access;
using Registry.Silo;

namespace Registry.Api.Extensions;

public static class AccessExtensions
{
    /// <summary>Accounts, tokens and the access check of every request (<c>Registry:Access</c>).</summary>
    public static AccessOptions AddRegistryAccess(this WebApplicationBuilder builder, RegistryOptions silo)
    {
        var options = builder.Configuration.BindValidated(AccessOptions.Section, new AccessOptionsValidator());
        if (options.Enabled && silo.Mode == RegistryMode.Cluster && options.AdminPassword.Length == 0)
        {
            throw new OptionsValidationException(AccessOptions.Section, typeof(AccessOptions), [$"{AccessOptions.Section}:AdminPassword must be set in cluster mode (e.g. from a Kubernetes Secret): there is no data directory to write a generated one to."]);
        }

        var services = builder.Services;
        services.AddSingleton(Options.Create(options));
        services.AddSingleton<Authorizer>();
        services.AddSingleton<TokenService>();
        services.AddSingleton<CredentialVerifier>();
        services.AddSingleton<Authenticator>();
        services.AddSingleton<AccessGate>();
        services.AddSingleton<AccessEndpoints>();
        services.AddHostedService<AdminBootstrap>();
        builder.AddRegistryIdentities(options);
        return options;
    }

    /// <summary>Maps the token endpoint when access control is on.</summary>
    public static void MapRegistryAccess(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<AccessOptions>>().Value.Enabled)
        {
            var endpoints = app.Services.GetRequiredService<AccessEndpoints>();
            app.MapGet(AccessEndpoints.TokenPath, (Delegate)endpoints.GetTokenAsync);
            app.MapPost(AccessEndpoints.TokenPath, (Delegate)endpoints.PostTokenAsync).DisableAntiforgery();
            app.MapRegistryIdentities();
        }
    }
}
