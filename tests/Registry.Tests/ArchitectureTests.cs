using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using Registry.Api;
using Registry.Grains;
using Registry.Silo;

namespace Registry.Tests;

/// <summary>The layering the code keeps: checked on the compiled assemblies, so a stray reference fails the build's tests.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ArchitectureTests
{
    [Fact]
    public void HttpHostUsesGrainContractsAndTheSiloCallButNoGrainImplementation()
    {
        var references = Names(typeof(RegistryApp));

        Assert.Empty(TypesUsedFrom(typeof(RegistryApp), "Registry.Grains"));
        Assert.Contains("Registry.Grains.Abstractions", references);
        Assert.Contains("Registry.Silo", references);
        Assert.Contains("Registry.Storage", references);
    }

    [Fact]
    public void GrainsHoldFactsAndNeverTouchStorage()
    {
        Assert.Empty(TypesUsedFrom(typeof(RepositoryGrain), "Registry.Storage"));
        Assert.Empty(TypesUsedFrom(typeof(IRepositoryGrain), "Registry.Storage"));
    }

    [Fact]
    public void TheSiloComposesGrainsAndStorage()
    {
        var references = Names(typeof(RegistrySiloExtensions));

        Assert.Contains("Registry.Grains", references);
        Assert.Contains("Registry.Storage", references);
    }

    [Fact]
    public void TheRegistryIsALibraryItsExecutableAndTheSampleHostOnlyRun()
    {
        Assert.Equal("Registry.Server", typeof(RegistryApp).Assembly.GetName().Name);
        foreach (var host in new[] { "Registry.Api", "Registry.Samples.SubscriberHost" })
        {
            using var file = File.OpenRead(Path.Combine(AppContext.BaseDirectory, host + ".dll"));
            using var pe = new PEReader(file);
            var metadata = pe.GetMetadataReader();
            var references = metadata.AssemblyReferences.Select(h => metadata.GetString(metadata.GetAssemblyReference(h).Name)).ToArray();
            Assert.Contains("Registry.Server", references);

            // A host needs the library, never the registry's own executable.
            Assert.DoesNotContain("Registry.Api", references);
        }
    }

    private static string[] Names(Type type) => type.Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToArray();

    /// <summary>The types the assembly of <paramref name="type"/> uses from the assembly named <paramref name="assembly"/>.</summary>
    private static List<string> TypesUsedFrom(Type type, string assembly)
    {
        using var file = File.OpenRead(type.Assembly.Location);
        using var pe = new PEReader(file);
        var metadata = pe.GetMetadataReader();
        var used = new List<string>();
        foreach (var handle in metadata.TypeReferences)
        {
            var reference = metadata.GetTypeReference(handle);
            if (reference.ResolutionScope.Kind == HandleKind.AssemblyReference
                && metadata.GetString(metadata.GetAssemblyReference((AssemblyReferenceHandle)reference.ResolutionScope).Name) == assembly)
            {
                used.Add($"{metadata.GetString(reference.Namespace)}.{metadata.GetString(reference.Name)}");
            }
        }

        return used;
    }
}
