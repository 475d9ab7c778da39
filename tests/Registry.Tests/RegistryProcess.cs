using System.Diagnostics;
using System.Text;

namespace Registry.Tests;

/// <summary>
/// A registry replica as its own OS process (<c>dotnet Registry.Api.dll</c> from the test's output
/// folder), in cluster mode against a shared Azurite, or embedded (<see cref="EmbeddedProcess"/>).
/// Can be killed hard (<c>kill -9</c>).
/// </summary>
public sealed class RegistryProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private RegistryProcess(Process process, int httpPort, int siloPort)
    {
        _process = process;
        HttpPort = httpPort;
        SiloPort = siloPort;
        BaseAddress = new Uri($"http://127.0.0.1:{httpPort}");
        Client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int HttpPort { get; }

    public int SiloPort { get; }

    public Uri BaseAddress { get; }

    public string Authority => BaseAddress.Authority;

    public HttpClient Client { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>What the process printed so far (for failure messages).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts a cluster-mode replica and waits until it answers <c>/v2/</c> (200, or 401 with access control on).</summary>
    public static Task<RegistryProcess> StartAsync(string connectionString, string clusterId, int? httpPort = null, int? siloPort = null, params (string Key, string Value)[] settings)
        => StartHostAsync("Registry.Api.dll", connectionString, clusterId, httpPort, siloPort, [.. settings]);

    /// <summary>
    /// Like <see cref="StartAsync"/>, running another host built on <c>RegistryApp</c> from the test's
    /// output folder (<paramref name="assembly"/>, e.g. the fault host of the crash tests).
    /// </summary>
    /// <remarks>
    /// <paramref name="launcher"/> runs the host through a command (e.g. <c>unshare</c>), which must end by exec'ing its trailing arguments.
    /// A setting whose value is null is removed from the environment, so the registry's default applies.
    /// </remarks>
    public static async Task<RegistryProcess> StartHostAsync(string assembly, string connectionString, string clusterId, int? httpPort, int? siloPort, (string Key, string? Value)[] settings, IReadOnlyList<string>? launcher = null)
    {
        var http = httpPort ?? Azurite.FreePort();
        var process = Start(assembly, connectionString, clusterId, http, siloPort, settings, launcher);
        try
        {
            await process.WaitUntilServingAsync(TimeSpan.FromSeconds(90));
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }

        return process;
    }

    /// <summary>Starts a headless cluster-mode silo (<c>dotnet Registry.SiloHost.dll</c>: grains, no HTTP); it joins on its own time.</summary>
    public static RegistryProcess StartHeadlessSilo(string connectionString, string clusterId, params (string Key, string Value)[] settings)
        => Start("Registry.SiloHost.dll", connectionString, clusterId, httpPort: 0, siloPort: null, [.. settings]);

    private static RegistryProcess Start(string assembly, string connectionString, string clusterId, int httpPort, int? siloPort, (string Key, string? Value)[] settings, IReadOnlyList<string>? launcher = null)
    {
        var silo = siloPort ?? Azurite.FreePort();
        var start = new ProcessStartInfo(launcher is null ? "dotnet" : launcher[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (var argument in launcher?.Skip(1).Append("dotnet") ?? [])
        {
            start.ArgumentList.Add(argument);
        }

        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, assembly));
        var env = start.Environment;
        env["Registry__Mode"] = "Cluster";
        env["Registry__Listen"] = $"http://127.0.0.1:{httpPort}";
        env["Registry__Azure__ConnectionString"] = connectionString;
        env["Registry__Azure__Container"] = clusterId;
        env["Registry__Cluster__ClusterId"] = clusterId;
        env["Registry__Cluster__ServiceId"] = clusterId;
        env["Registry__Cluster__AdvertisedAddress"] = "127.0.0.1";
        env["Registry__Cluster__SiloPort"] = $"{silo}";
        env["Logging__LogLevel__Default"] = "Warning";
        env["Logging__LogLevel__Orleans"] = "Warning";
        // Off, as it may be on loopback; a test turns it on with ("Registry__Access__Enabled", "true").
        env["Registry__Access__Enabled"] = "false";
        foreach (var (key, value) in settings)
        {
            if (value is null)
            {
                env.Remove(key);
            }
            else
            {
                env[key] = value;
            }
        }

        return new RegistryProcess(Process.Start(start)!, httpPort, silo);
    }

    /// <summary>Ends the process at once, as <c>kill -9</c> does: no shutdown, no goodbye to the cluster.</summary>
    public void KillHard()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(30_000);
        }
    }

    /// <summary>Stops gracefully (SIGTERM), leaving the cluster cleanly.</summary>
    public async Task StopAsync()
    {
        if (_process.HasExited)
        {
            return;
        }

        using (var term = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await term.WaitForExitAsync();
        }

        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            KillHard();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await StopAsync();
        _process.Dispose();
    }

    private async Task WaitUntilServingAsync(TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        using var probe = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"registry exited with {_process.ExitCode}:\n{Output}");
            }

            try
            {
                using var response = await probe.GetAsync("/v2/", deadline.Token);
                // With access control on, /v2/ challenges: serving all the same.
                if (response.IsSuccessStatusCode || response.StatusCode == System.Net.HttpStatusCode.Unauthorized)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!deadline.IsCancellationRequested)
            {
            }

            // A readiness poll, bounded by the deadline.
            await Task.Delay(200, deadline.Token);
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            if (_output.Length < 200_000)
            {
                _output.AppendLine(line);
            }
        }
    }
}
