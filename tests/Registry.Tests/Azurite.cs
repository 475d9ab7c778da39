using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Registry.Tests;

/// <summary>
/// The real Azure Storage emulator (npm package azurite, pinned in tools/azurite), started on free
/// loopback ports with in-memory persistence; scripts/test.sh installs it.
/// </summary>
public sealed class Azurite : IAsyncDisposable
{
    private const string Key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private readonly Process _process;

    private Azurite(Process process, int blobPort, int queuePort, int tablePort)
    {
        _process = process;
        ConnectionString = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + Key
            + $";BlobEndpoint=http://127.0.0.1:{blobPort}/devstoreaccount1"
            + $";QueueEndpoint=http://127.0.0.1:{queuePort}/devstoreaccount1"
            + $";TableEndpoint=http://127.0.0.1:{tablePort}/devstoreaccount1;";
    }

    public string ConnectionString { get; }

    public static string Executable => Path.Combine(RepositoryRoot.Path, "tools", "azurite", "node_modules", ".bin", "azurite");

    public static async Task<Azurite> StartAsync()
    {
        if (!File.Exists(Executable))
        {
            throw new InvalidOperationException($"Azurite is not installed at {Executable}: run `npm ci --prefix tools/azurite` (scripts/test.sh does).");
        }

        var (blob, queue, table) = (FreePort(), FreePort(), FreePort());
        var start = new ProcessStartInfo(Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            "--blobHost", "127.0.0.1", "--blobPort", $"{blob}",
            "--queueHost", "127.0.0.1", "--queuePort", $"{queue}",
            "--tableHost", "127.0.0.1", "--tablePort", $"{table}",
            "--inMemoryPersistence", "--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry",
        })
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var azurite = new Azurite(process, blob, queue, table);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        foreach (var port in new[] { blob, queue, table })
        {
            await WaitForPortAsync(port, process, deadline.Token);
        }

        return azurite;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }

        _process.Dispose();
    }

    /// <summary>
    /// A loopback port for a process or listener to bind, below the kernel's ephemeral range: a port
    /// the kernel hands out (bind to 0) can become the local port of some outgoing connection before
    /// the process binds it ("address already in use"), or be handed out to a second caller. Ports
    /// below the range are never given to outgoing connections, and this counter gives each
    /// caller its own.
    /// </summary>
    public static int FreePort()
    {
        var low = EphemeralLow.Value;
        if (low < FirstPort + 8000)
        {
            // The ephemeral range starts too low to stay below it: let the kernel choose.
            using var any = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            any.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return ((IPEndPoint)any.LocalEndPoint!).Port;
        }

        for (var attempt = 0; attempt < 2000; attempt++)
        {
            var port = Interlocked.Increment(ref s_nextPort);
            if (port >= low)
            {
                Interlocked.CompareExchange(ref s_nextPort, FirstPort, port);
                continue;
            }

            try
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException)
            {
                // In use by something else on the machine: the next one.
            }
        }

        throw new InvalidOperationException($"no free loopback port between {FirstPort} and {low}");
    }

    private const int FirstPort = 12000;

    private static int s_nextPort = FirstPort + Random.Shared.Next(0, 8000);

    private static readonly Lazy<int> EphemeralLow = new(() =>
    {
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            return int.Parse(range[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 32768;
        }
    });

    private static async Task WaitForPortAsync(int port, Process process, CancellationToken ct)
    {
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"Azurite exited with code {process.ExitCode} before listening on {port}.");
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port, ct);
                return;
            }
            catch (SocketException)
            {
                // Not listening yet: poll again shortly (a readiness poll, bounded by the deadline).
                await Task.Delay(100, ct);
            }
        }
    }
}

/// <summary>The repository's root folder (the one holding Registry.sln).</summary>
public static class RepositoryRoot
{
    public static string Path { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Registry.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Registry.sln not found above " + AppContext.BaseDirectory);
    }
}
