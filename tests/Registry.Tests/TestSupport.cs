using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace Registry.Tests;

/// <summary>
/// The values of the <c>Category</c> trait every test class carries, so the suite can be run in
/// parts (<c>dotnet test --filter Category=Fast</c>; README, Development). A class may carry several.
/// </summary>
public static class TestCategories
{
    /// <summary>Runs inside the test process only: the registry on 127.0.0.1, storage on temporary directories, units.</summary>
    public const string Fast = "Fast";

    /// <summary>In the test process too, but long by design or run alone: measurements.</summary>
    public const string Slow = "Slow";

    /// <summary>Starts registry processes (the built Api, as a cluster replica or to be killed mid-write).</summary>
    public const string Process = "Process";

    /// <summary>Needs Azurite (tools/azurite), the Azure Storage emulator, which it starts.</summary>
    public const string Azurite = "Azurite";

    /// <summary>Needs a real client: skopeo, or podman (PodmanAccessTests).</summary>
    public const string Skopeo = "Skopeo";

    /// <summary>Needs kubectl, to render the deploy/ overlays.</summary>
    public const string Kubectl = "Kubectl";
}

/// <summary>A real temporary directory, deleted when disposed.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix = "registry-test-")
    {
        Path = Directory.CreateTempSubdirectory(prefix).FullName;
    }

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Time bounds for tests: every wait ends.</summary>
public static class Bounded
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    public static CancellationTokenSource Token() => new(Timeout);

    /// <summary>A longer bound, for the few scale tests whose work alone takes a large part of <see cref="Timeout"/>.</summary>
    public static CancellationTokenSource Token(TimeSpan timeout) => new(timeout);

    public static Task WithinAsync(this Task task) => task.WaitAsync(Timeout);

    public static Task<T> WithinAsync<T>(this Task<T> task) => task.WaitAsync(Timeout);
}

/// <summary>A chunked upload session driven over HTTP, the way clients do it.</summary>
public sealed class UploadSession(HttpClient client, string name, string location)
{
    public string Name { get; } = name;

    /// <summary>The session path as the registry sent it in <c>Location</c>.</summary>
    public string Location { get; } = location;

    public string Id => Location[(Location.LastIndexOf('/') + 1)..];

    public static async Task<UploadSession> StartAsync(HttpClient client, string name)
    {
        using var response = await client.PostAsync($"/v2/{name}/blobs/uploads/", null);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var location = response.Header("Location");
        Assert.StartsWith($"/v2/{name}/blobs/uploads/", location, StringComparison.Ordinal);
        return new UploadSession(client, name, location);
    }

    /// <summary>Sends <paramref name="count"/> bytes from <paramref name="offset"/> with a Content-Range.</summary>
    public Task<HttpResponseMessage> PatchAsync(byte[] content, int offset, int count)
        => client.SendAsync(
            HttpMethod.Patch,
            Location,
            Oci.Octets(content, offset, count),
            ("Content-Range", string.Create(CultureInfo.InvariantCulture, $"{offset}-{offset + count - 1}")));

    /// <summary>PATCHes one chunk and asserts 202 with the range the session now covers.</summary>
    public async Task PatchOkAsync(byte[] content, int offset, int count)
    {
        using var response = await PatchAsync(content, offset, count);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"0-{offset + count - 1}"), response.Header("Range"));
    }

    public Task<HttpResponseMessage> PutAsync(string digest, HttpContent? body = null)
        => client.PutAsync($"{Location}?digest={digest}", body);

    public Task<HttpResponseMessage> GetAsync() => client.GetAsync(Location);
}

public static class DataDirectory
{
    /// <summary>Every file under <paramref name="path"/> (none when it does not exist), relative to it.</summary>
    public static string[] Files(string path)
        => Directory.Exists(path)
            ? Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(path, f)).Order(StringComparer.Ordinal).ToArray()
            : [];

    /// <summary>Every entry (file or directory) directly or indirectly under <paramref name="path"/>.</summary>
    public static string[] Entries(string path)
        => Directory.Exists(path)
            ? Directory.EnumerateFileSystemEntries(path, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(path, f)).Order(StringComparer.Ordinal).ToArray()
            : [];

    /// <summary>Where the filesystem driver keeps a blob: <c>blobs/{algorithm}/{first two hex}/{hex}</c>.</summary>
    public static string BlobPath(string root, string digest)
    {
        var (algorithm, hex) = (digest[..digest.IndexOf(':', StringComparison.Ordinal)], digest[(digest.IndexOf(':', StringComparison.Ordinal) + 1)..]);
        return Path.Combine(root, "blobs", algorithm, hex[..2], hex);
    }
}

/// <summary>
/// A request body the test releases in two steps: the first part is sent at once, the rest only
/// after <see cref="Release"/>, so a test can act while the server is in the middle of a request.
/// </summary>
public sealed class HeldBackContent(byte[] content, int firstPart) : HttpContent
{
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Release() => _release.TrySetResult();

    protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
    {
        await stream.WriteAsync(content.AsMemory(0, firstPart));
        await stream.FlushAsync();
        await _release.Task.WithinAsync();
        await stream.WriteAsync(content.AsMemory(firstPart));
    }

    protected override bool TryComputeLength(out long length)
    {
        length = content.Length;
        return true;
    }
}

public static class Eventually
{
    private static readonly TimeSpan FirstPause = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan LongestPause = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// Waits until <paramref name="condition"/> holds, within the test bound. Checks at once, then
    /// after pauses that double from 1 ms to at most 20 ms: a condition that holds soon is seen
    /// soon, and the wait does not take a core from the code it waits for.
    /// </summary>
    public static async Task HoldsAsync(Func<bool> condition, string what)
    {
        var started = Stopwatch.GetTimestamp();
        var pause = FirstPause;
        while (!condition())
        {
            if (Stopwatch.GetElapsedTime(started) > Bounded.Timeout)
            {
                throw new Xunit.Sdk.XunitException($"timed out waiting until {what}");
            }

            await Task.Delay(pause);
            pause = pause * 2 < LongestPause ? pause * 2 : LongestPause;
        }
    }

    /// <summary>As <see cref="HoldsAsync(Func{bool}, string)"/>, for a condition that awaits (an HTTP request, a grain call).</summary>
    public static async Task HoldsAsync(Func<Task<bool>> condition, string what)
    {
        var started = Stopwatch.GetTimestamp();
        var pause = FirstPause;
        while (!await condition())
        {
            if (Stopwatch.GetElapsedTime(started) > Bounded.Timeout)
            {
                throw new Xunit.Sdk.XunitException($"timed out waiting until {what}");
            }

            await Task.Delay(pause);
            pause = pause * 2 < LongestPause ? pause * 2 : LongestPause;
        }
    }
}
