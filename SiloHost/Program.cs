using Microsoft.Extensions.Hosting;
using Registry.Silo;

// The headless silo: grains and the periodic jobs, no HTTP. In cluster mode it joins the replicas
// that share its Registry:Cluster ids; in embedded mode it is a silo of its own.
var builder = Host.CreateApplicationBuilder(args);
builder.AddRegistrySilo();
builder.Build().Run();
