using Microsoft.Extensions.Options;
using Registry.Api;
using Registry.Silo;

try
{
    var app = RegistryApp.Create(args);
    if (app.Services.GetRequiredService<IOptions<ApiOptions>>().Value.WarmUp)
    {
        // Before the server listens: whoever sees it ready gets first requests as fast as later ones.
        await StartupWarmUp.RunAsync(app.Services.GetRequiredService<IOptions<RegistryOptions>>().Value.Uploads.WriteMode, app.Logger);
    }

    await app.RunAsync();
    return 0;
}
catch (OptionsValidationException invalid)
{
    // A setting to fix, not a crash: say what to set, without a stack trace.
    Console.Error.WriteLine($"The registry cannot start:{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", invalid.Failures)}");
    return 1;
}
