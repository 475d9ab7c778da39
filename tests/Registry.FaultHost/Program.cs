using Registry.Api;
using Registry.FaultHost;
using Registry.Grains;

// REGISTRY_FAULT names the crash point: after-state-write or after-publish, or hold-events (unset: none).
var fault = Environment.GetEnvironmentVariable(CrashingFaults.Variable);
RegistryApp.Create(args, builder => builder.Services.AddSingleton<IRepositoryFaults>(new CrashingFaults(fault))).Run();
