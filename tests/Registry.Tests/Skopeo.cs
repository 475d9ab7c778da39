using System.Diagnostics;
using System.Text;
using Xunit.Sdk;

namespace Registry.Tests;

/// <summary>What a finished process printed and returned.</summary>
public sealed record ProcessResult(string Command, int ExitCode, byte[] Stdout, string Stderr)
{
    public string StdoutText => Encoding.UTF8.GetString(Stdout);

    public string Describe() => $"`{Command}` exited {ExitCode}\n--- stderr ---\n{Stderr}\n--- stdout ---\n{(StdoutText.Length > 4000 ? StdoutText[..4000] + "…" : StdoutText)}";
}

/// <summary>
/// Runs the real skopeo binary with a time limit. A missing skopeo is a test failure, not a skip:
/// the test command (scripts/test.sh) installs it.
/// </summary>
public static class Skopeo
{
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    private static readonly Lazy<string?> Executable = new(() => FindOnPath("skopeo"));

    /// <summary>The path of skopeo, or a failure that says how to get it.</summary>
    public static string Path => Executable.Value
        ?? throw new XunitException("skopeo is not on PATH. These end-to-end tests need the real client: run `apt-get install -y skopeo` (scripts/test.sh does it when skopeo is missing).");

    /// <summary>
    /// Runs skopeo with a per-run temporary directory and without signature policy checks
    /// (the copies go to and from a test registry on loopback). With SKOPEO_DEBUG_LOG set to a
    /// file, runs it with --debug and appends its stderr there (to see what it said on the wire).
    /// </summary>
    public static async Task<ProcessResult> RunAsync(params string[] args)
    {
        var tmp = Directory.CreateTempSubdirectory("skopeo-tmp-").FullName;
        try
        {
            var log = Environment.GetEnvironmentVariable("SKOPEO_DEBUG_LOG");
            string[] all = ["--insecure-policy", "--tmpdir", tmp, .. (log is { Length: > 0 } ? new[] { "--debug" } : []), .. args];
            var result = await ProcessRunner.RunAsync(Path, all, Timeout);
            if (log is { Length: > 0 })
            {
                lock (Executable)
                {
                    File.AppendAllText(log, $"==== {result.Command} (exit {result.ExitCode})\n{result.Stderr}\n");
                }
            }

            return result;
        }
        finally
        {
            TryDelete(tmp);
        }
    }

    /// <summary>Runs skopeo and fails the test, with its output, unless it exits 0.</summary>
    public static async Task<ProcessResult> RunOkAsync(params string[] args)
    {
        var result = await RunAsync(args);
        if (result.ExitCode != 0)
        {
            throw new XunitException("skopeo failed: " + result.Describe());
        }

        return result;
    }

    /// <summary><c>skopeo copy</c> from a local layout to the registry over plain HTTP, anonymously.</summary>
    public static Task<ProcessResult> PushAsync(string source, string destination, params string[] options)
        => RunOkAsync(["copy", "--dest-tls-verify=false", "--dest-no-creds", .. options, source, destination]);

    /// <summary><c>skopeo copy</c> from the registry over plain HTTP, anonymously, to a local destination.</summary>
    public static Task<ProcessResult> PullAsync(string source, string destination, params string[] options)
        => RunOkAsync(["copy", "--src-tls-verify=false", "--src-no-creds", .. options, source, destination]);

    public static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    public static string? FindOnPath(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = System.IO.Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}

/// <summary>Starts a process, collects its output and kills its whole tree when it overruns.</summary>
public static class ProcessRunner
{
    public static async Task<ProcessResult> RunAsync(string fileName, IReadOnlyList<string> args, TimeSpan timeout)
    {
        var command = fileName + " " + string.Join(' ', args);
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new XunitException($"could not start {command}");
        process.StandardInput.Close();
        var stdout = new MemoryStream();
        var stdoutTask = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        var stderrTask = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            var partial = await stderrTask;
            throw new XunitException($"`{command}` did not finish within {timeout} and was killed\n--- stderr ---\n{partial}");
        }

        await stdoutTask;
        return new ProcessResult(command, process.ExitCode, stdout.ToArray(), await stderrTask);
    }
}
