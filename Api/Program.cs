using Registry.Api;

RegistryApp.Create(args).Run();
