namespace Registry.Grains;

/// <summary>The grain storage provider the grains use and a state name it treats specially; the silo composition registers them.</summary>
public static class GrainStorageNames
{
    /// <summary>The grain storage provider that holds repository, upload, catalog, event log and webhook state.</summary>
    public const string Provider = "registry";

    /// <summary>The state name of upload sessions: transient, so embedded mode does not flush it to disk.</summary>
    public const string UploadState = "upload";
}
