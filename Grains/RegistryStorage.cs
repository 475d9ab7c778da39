namespace Registry.Grains;

/// <summary>Names of the providers the grains use; the silo composition registers them.</summary>
public static class RegistryStorage
{
    /// <summary>The grain storage provider that holds repository, upload and catalog state.</summary>
    public const string Name = "registry";

    /// <summary>The state name of upload sessions: transient, so embedded mode does not flush it to disk.</summary>
    public const string UploadState = "upload";
}
