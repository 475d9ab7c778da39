namespace Registry.Grains;

/// <summary>Names of the providers the grains use; the silo composition registers them.</summary>
public static class RegistryStorage
{
    /// <summary>The grain storage provider that holds repository, upload and catalog state.</summary>
    public const string Name = "registry";
}
