using Microsoft.Extensions.Options;
using Registry.Api;

try
{
    RegistryApp.Create(args).Run();
    return 0;
}
catch (OptionsValidationException invalid)
{
    // A setting to fix, not a crash: say what to set, without a stack trace.
    Console.Error.WriteLine($"The registry cannot start:{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", invalid.Failures)}");
    return 1;
}
