using System.Diagnostics;
using System.Text;
using Xunit.Sdk;

namespace Registry.Tests;

/// <summary>
/// kubectl as a real client of the registry's Kubernetes-style API: <c>--server</c> pointed at a
/// test registry, an empty kubeconfig of its own and a discovery cache of its own, so no cluster
/// or user configuration of the machine is read.
/// </summary>
public sealed class Kubectl : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly TempDirectory _home = new("kubectl-");
    private readonly Uri _server;

    public Kubectl(Uri server)
    {
        _server = server;
        File.WriteAllText(System.IO.Path.Combine(_home.Path, "config"), "");
    }

    public static string Path { get; } = (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Select(d => System.IO.Path.Combine(d, "kubectl"))
        .FirstOrDefault(File.Exists)
        ?? throw new XunitException("kubectl is not on PATH: install kubectl >= 1.27 (the machine image has /usr/bin/kubectl; Debian's kubernetes-client otherwise).");

    public void Dispose() => _home.Dispose();

    /// <summary>Runs kubectl and returns what it printed, whatever its exit code.</summary>
    public async Task<ProcessResult> RunAsync(params string[] args)
    {
        var info = Start(args);
        using var process = Process.Start(info) ?? throw new XunitException("could not start kubectl");
        process.StandardInput.Close();
        var stdout = ReadAllAsync(process.StandardOutput.BaseStream);
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(Timeout);
        var command = "kubectl " + string.Join(' ', args);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new XunitException($"`{command}` did not finish within {Timeout} and was killed\n{await stderr}");
        }

        return new ProcessResult(command, process.ExitCode, await stdout, await stderr);
    }

    private ProcessStartInfo Start(string[] args)
    {
        var info = new ProcessStartInfo(Path)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["KUBECONFIG"] = System.IO.Path.Combine(_home.Path, "config");
        info.Environment["HOME"] = _home.Path;
        string[] all = [$"--server={_server.GetLeftPart(UriPartial.Authority)}", $"--cache-dir={System.IO.Path.Combine(_home.Path, "cache")}", "--request-timeout=30s", .. args];
        foreach (var arg in all)
        {
            info.ArgumentList.Add(arg);
        }

        return info;
    }

    /// <summary>Starts a kubectl that runs until disposed (a watch), its output read line by line.</summary>
    public Task<RunningKubectl> StartAsync(params string[] args)
    {
        var info = Start(args);
        var process = Process.Start(info) ?? throw new XunitException("could not start kubectl");
        process.StandardInput.Close();
        return Task.FromResult(new RunningKubectl(process, "kubectl " + string.Join(' ', args)));
    }

    /// <summary>Runs kubectl, which must succeed; returns its standard output.</summary>
    public async Task<string> OkAsync(params string[] args)
    {
        var result = await RunAsync(args);
        Assert.True(result.ExitCode == 0, result.Describe());
        return Encoding.UTF8.GetString(result.Stdout);
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        using var memory = new MemoryStream();
        await stream.CopyToAsync(memory);
        return memory.ToArray();
    }
}

/// <summary>A kubectl that keeps running (<c>-w</c>): its lines as they come; killed on dispose.</summary>
public sealed class RunningKubectl : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _command;
    private readonly List<string> _lines = [];
    private readonly Task _reader;
    private readonly Task<string> _stderr;

    public RunningKubectl(Process process, string command)
    {
        _process = process;
        _command = command;
        _stderr = process.StandardError.ReadToEndAsync();
        _reader = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
            {
                lock (_lines)
                {
                    _lines.Add(line);
                }
            }
        });
    }

    /// <summary>Waits (within the test bound) for a line that <paramref name="match"/> accepts; returns it.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match)
    {
        string? found = null;
        await Eventually.HoldsAsync(
            () =>
            {
                lock (_lines)
                {
                    found = _lines.FirstOrDefault(match);
                }

                if (found is null && _process.HasExited)
                {
                    throw new XunitException($"`{_command}` exited {_process.ExitCode}\n{_stderr.Result}\n{string.Join('\n', _lines)}");
                }

                return found is not null;
            },
            $"`{_command}` prints the expected line");
        return found!;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        await _reader;
        _process.Dispose();
    }
}
