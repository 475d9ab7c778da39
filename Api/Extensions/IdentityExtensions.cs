using Microsoft.Extensions.Options;
using Registry.Api.Access;

namespace Registry.Api.Extensions;

public static class IdentityExtensions
{
    /// <summary>Who a request is: robots, the OIDC issuer (<c>Registry:Access:Oidc</c>), the htpasswd import and the users and robots API.</summary>
    public static void AddRegistryIdentities(this WebApplicationBuilder builder, AccessOptions access)
    {
        var oidc = access.Oidc;
        if (new OidcOptionsValidator().Validate(null, oidc) is { Failed: true } result)
        {
            throw new OptionsValidationException(OidcOptions.Section, typeof(OidcOptions), result.Failures);
        }

        var services = builder.Services;
        services.AddSingleton(Options.Create(oidc));
        services.AddHttpClient(OidcVerifier.HttpClientName, client => client.Timeout = oidc.JwksTimeout);
        services.AddSingleton<OidcVerifier>();
        services.AddSingleton<RobotVerifier>();
        services.AddSingleton<IdentityRequests>();
        services.AddSingleton<UsersEndpoints>();
        services.AddSingleton<RobotsEndpoints>();
        services.AddHostedService<HtpasswdImport>();
    }

    /// <summary>Maps <c>/apis/registry/v1/users</c> and <c>/apis/registry/v1/namespaces/{ns}/robots</c>.</summary>
    public static void MapRegistryIdentities(this WebApplication app)
    {
        var users = app.Services.GetRequiredService<UsersEndpoints>();
        app.MapGet(UsersEndpoints.Path, (Delegate)users.ListAsync);
        app.MapPost(UsersEndpoints.Path, (Delegate)users.CreateAsync).DisableAntiforgery();
        app.MapGet(UsersEndpoints.Path + "/{name}", (Delegate)users.GetAsync);
        app.MapPut(UsersEndpoints.Path + "/{name}", (Delegate)users.ReplaceAsync).DisableAntiforgery();
        app.MapDelete(UsersEndpoints.Path + "/{name}", (Delegate)users.DeleteAsync);

        var robots = app.Services.GetRequiredService<RobotsEndpoints>();
        app.MapGet(RobotsEndpoints.Path, (Delegate)robots.ListAsync);
        app.MapPost(RobotsEndpoints.Path, (Delegate)robots.CreateAsync).DisableAntiforgery();
        app.MapGet(RobotsEndpoints.Path + "/{name}", (Delegate)robots.GetAsync);
        app.MapDelete(RobotsEndpoints.Path + "/{name}", (Delegate)robots.DeleteAsync);
    }
}
