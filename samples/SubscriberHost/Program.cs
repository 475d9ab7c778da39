using Registry.Api;
using Registry.Api.Extensions;
using Registry.Samples.SubscriberHost;

// The registry as in Api/Program.cs, plus one subscriber: every setting of the registry applies
// (--Registry:DataDirectory=…, --Registry:Listen=…), and Sample:PushLog names the file it writes.
RegistryApp.Create(args, builder => builder.Services.AddRegistryEventSubscriber<PushLog>()).Run();
