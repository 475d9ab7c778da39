using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Registry.Bench;

// Usage:
//   Registry.Bench --url http://127.0.0.1:PORT [--pid PID] [--quick] [--big] [--json out.json] [--tags-timeout SECONDS]
//                  [--only push-monolithic,push-single-post,push-chunked,pull,manifest-get,tags-list,big] [--append]
//   (--append merges into an existing --json file of the same registry, so phases of several
//    invocations, e.g. interleaved with another registry's, make up one result)
//   Registry.Bench report --ours ours.json --reference reference.json --out docs/benchmarks.md [--command TEXT]
//                         [--ours-setup TEXT] [--reference-setup TEXT]
//   Registry.Bench free-port
try
{
    if (args.Length > 0 && args[0] == "free-port")
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Console.WriteLine(((IPEndPoint)socket.LocalEndPoint!).Port);
        return 0;
    }

    if (args.Length > 0 && args[0] == "report")
    {
        var r = Arguments.Parse(args[1..], ["--ours", "--reference", "--out", "--command", "--ours-setup", "--reference-setup"], []);
        await Report.WriteAsync(
            await BenchResult.LoadAsync(r.Require("--ours")),
            await BenchResult.LoadAsync(r.Require("--reference")),
            r.Require("--out"),
            r.Get("--command") ?? "bench/run.sh",
            r.Get("--ours-setup") ?? "",
            r.Get("--reference-setup") ?? "");
        Console.WriteLine($"wrote {r.Require("--out")}");
        return 0;
    }

    var a = Arguments.Parse(args, ["--url", "--pid", "--json", "--tags-timeout", "--only"], ["--quick", "--big", "--append"]);
    var url = new Uri(a.Require("--url").TrimEnd('/') + "/");
    if (url.Scheme != "http" || !IPAddress.TryParse(url.Host, out var ip) || !IPAddress.IsLoopback(ip))
    {
        throw new BenchException($"--url {url} is not http://127.0.0.1:PORT: the benchmark only talks to a registry on the loopback interface");
    }

    var options = new BenchOptions(
        url,
        a.Get("--pid") is { } pid ? int.Parse(pid, CultureInfo.InvariantCulture) : null,
        a.Has("--quick"),
        a.Has("--big"),
        a.Get("--json"),
        TimeSpan.FromSeconds(a.Get("--tags-timeout") is { } t ? double.Parse(t, CultureInfo.InvariantCulture) : 360),
        a.Get("--only") is { } only ? ParsePhases(only) : null);
    using var cancel = new CancellationTokenSource();
    Console.CancelKeyPress += (_, e) =>
    {
        e.Cancel = true;
        cancel.Cancel();
    };
    var result = await new Benchmark(options, Console.Error).RunAsync(cancel.Token);
    Console.WriteLine(result.ToMarkdown());
    if (options.JsonPath is { } json)
    {
        if (a.Has("--append") && File.Exists(json))
        {
            var earlier = await BenchResult.LoadAsync(json);
            if (earlier.Url != result.Url)
            {
                throw new BenchException($"--append: {json} holds results of {earlier.Url}, not {result.Url}");
            }

            earlier.Merge(result);
            result = earlier;
        }

        await result.SaveAsync(json);
        Console.Error.WriteLine($"wrote {json}");
    }

    return result.Errors.Count == 0 ? 0 : 1;
}
catch (BenchException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}

static HashSet<string> ParsePhases(string list)
{
    var phases = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
    var unknown = phases.Except(BenchOptions.PhaseNames).ToArray();
    return unknown.Length == 0 ? phases : throw new BenchException($"--only: unknown phase(s) {string.Join(", ", unknown)}; known: {string.Join(", ", BenchOptions.PhaseNames)}");
}
