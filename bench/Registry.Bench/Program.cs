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
//                         [--ours-setup TEXT] [--reference-setup TEXT] [--disk-mbps A,B,C]
//   Registry.Bench scaleout --url http://127.0.0.1:PORT [--url …] [--pid PID …] [--storage-pid PID] [--label TEXT]
//                           [--json out.json] [--quick] [--create-only]
//   (the same load spread round robin over every --url, processes of one cluster; see bench/scaleout.sh)
//   Registry.Bench scaleout-report --one one.json --three three.json --out docs/benchmarks-scaleout.md
//                                  [--command TEXT] [--setup TEXT]
//   Registry.Bench memory --url URL --pid PID [--pulls 256] [--pushes 16] [--pull-mib 64] [--push-mib 32]
//                         [--pull-kib-per-second 256] [--seconds 60]
//   (slow pulls and pushes at once; prints a table row with the peak RSS; see bench/memory.sh)
//   Registry.Bench push-throughput --url URL [--count 16] [--concurrency 4] [--mib 64]
//   Registry.Bench access --off URL --on URL --reference URL --reference-open URL --user NAME --password-file FILE
//                         --out docs/benchmarks-access.md [--command TEXT] [--setup TEXT] [--quick]
//   (this registry with access control off and on, and the reference open and with htpasswd; see bench/access.sh)
//   Registry.Bench image-api --url URL [--pid PID] [--user NAME --password-file FILE] --out docs/benchmarks-image-api.md
//                            [--command TEXT] [--setup TEXT] [--quick]
//   (GET of a 100×100 stream, list walks of 10,000 streams, watch fan-out, /v2 alone vs with the image API's load; see bench/imageapi.sh)
//   Registry.Bench htpasswd --user NAME --password-file FILE   (prints an htpasswd line, bcrypt cost 5 as `htpasswd -B`)
//   Registry.Bench gc --url URL --pid PID --data DIR --out docs/benchmarks-gc.md [--repositories 10000] [--blobs-per-image 10]
//                     [--garbage-every 10] [--rounds 5] [--pushes 192] [--push-kib 1024] [--command TEXT]
//   (a collection of a seeded embedded registry, and pushes with and without one running; see bench/gc.sh)
//   Registry.Bench free-port
try
{
    if (args.Length > 0 && args[0] == "htpasswd")
    {
        var h = Arguments.Parse(args[1..], ["--user", "--password-file"], []);
        Console.WriteLine($"{h.Require("--user")}:{BCrypt.Net.BCrypt.HashPassword(File.ReadAllText(h.Require("--password-file")).Trim(), 5)}");
        return 0;
    }

    if (args.Length > 0 && args[0] == "access")
    {
        var x = Arguments.Parse(args[1..], ["--off", "--on", "--reference", "--reference-open", "--user", "--password-file", "--out", "--command", "--setup"], ["--quick"]);
        return await new AccessBench(
            new AccessBenchOptions(
                LoopbackUrl(x.Require("--off")),
                LoopbackUrl(x.Require("--on")),
                LoopbackUrl(x.Require("--reference")),
                LoopbackUrl(x.Require("--reference-open")),
                x.Require("--user"),
                File.ReadAllText(x.Require("--password-file")).Trim(),
                x.Has("--quick"),
                x.Require("--out"),
                x.Get("--command") ?? "bench/access.sh",
                x.Get("--setup") ?? ""),
            Console.Error).RunAsync(CancellationToken.None);
    }

    if (args.Length > 0 && args[0] == "image-api")
    {
        var x = Arguments.Parse(args[1..], ["--url", "--pid", "--user", "--password-file", "--out", "--command", "--setup"], ["--quick"]);
        return await new ImageApiBench(
            new ImageApiBenchOptions(
                LoopbackUrl(x.Require("--url")),
                x.Get("--pid") is { } imagePid ? int.Parse(imagePid, CultureInfo.InvariantCulture) : null,
                x.Get("--user"),
                x.Get("--password-file") is { } passwordFile ? File.ReadAllText(passwordFile).Trim() : null,
                x.Has("--quick"),
                x.Require("--out"),
                x.Get("--command") ?? "bench/imageapi.sh",
                x.Get("--setup") ?? ""),
            Console.Error).RunAsync(CancellationToken.None);
    }

    if (args.Length > 0 && args[0] == "gc")
    {
        var g = Arguments.Parse(args[1..], ["--url", "--pid", "--data", "--repositories", "--blobs-per-image", "--garbage-every", "--rounds", "--pushes", "--push-kib", "--out", "--command"], []);
        int Int(string key, int fallback) => g.Get(key) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
        return await new GcBench(
            new GcBenchOptions(
                LoopbackUrl(g.Require("--url")),
                int.Parse(g.Require("--pid"), CultureInfo.InvariantCulture),
                g.Require("--data"),
                Int("--repositories", 10_000),
                Int("--blobs-per-image", 10),
                Int("--garbage-every", 10),
                Int("--rounds", 5),
                Int("--pushes", 192),
                Int("--push-kib", 1024),
                g.Require("--out"),
                g.Get("--command") ?? "bench/gc.sh"),
            Console.Error).RunAsync(CancellationToken.None);
    }

    if (args.Length > 0 && args[0] == "free-port")
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Console.WriteLine(((IPEndPoint)socket.LocalEndPoint!).Port);
        return 0;
    }

    if (args.Length > 0 && args[0] == "memory")
    {
        var m = Arguments.Parse(args[1..], ["--url", "--pid", "--pulls", "--pushes", "--pull-mib", "--push-mib", "--pull-kib-per-second", "--seconds"], []);
        int Int(string key, int fallback) => m.Get(key) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
        return await new MemoryLoad(
            new MemoryLoadOptions(
                LoopbackUrl(m.Require("--url")),
                int.Parse(m.Require("--pid"), CultureInfo.InvariantCulture),
                Int("--pulls", 256),
                Int("--pushes", 16),
                (long)Int("--pull-mib", 64) << 20,
                (long)Int("--push-mib", 32) << 20,
                Int("--pull-kib-per-second", 256) * 1024,
                TimeSpan.FromSeconds(Int("--seconds", 60))),
            Console.Error).RunAsync(CancellationToken.None);
    }

    if (args.Length > 0 && args[0] == "push-throughput")
    {
        var p = Arguments.Parse(args[1..], ["--url", "--count", "--concurrency", "--mib"], []);
        int Int(string key, int fallback) => p.Get(key) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
        return await PushThroughput.RunAsync(LoopbackUrl(p.Require("--url")), Int("--count", 16), Int("--concurrency", 4), (long)Int("--mib", 64) << 20, CancellationToken.None);
    }

    if (args.Length > 0 && args[0] == "report")
    {
        var r = Arguments.Parse(args[1..], ["--ours", "--reference", "--out", "--command", "--ours-setup", "--reference-setup", "--disk-mbps"], []);
        await Report.WriteAsync(
            await BenchResult.LoadAsync(r.Require("--ours")),
            await BenchResult.LoadAsync(r.Require("--reference")),
            r.Require("--out"),
            r.Get("--command") ?? "bench/run.sh",
            r.Get("--ours-setup") ?? "",
            r.Get("--reference-setup") ?? "",
            DiskProbe.Parse(r.Get("--disk-mbps")));
        Console.WriteLine($"wrote {r.Require("--out")}");
        return 0;
    }

    if (args.Length > 0 && args[0] == "scaleout-report")
    {
        var r = Arguments.Parse(args[1..], ["--one", "--three", "--out", "--command", "--setup"], []);
        await ScaleOutReport.WriteAsync(
            await ScaleOutResult.LoadAsync(r.Require("--one")),
            await ScaleOutResult.LoadAsync(r.Require("--three")),
            r.Require("--out"),
            r.Get("--command") ?? "bench/scaleout.sh",
            r.Get("--setup") ?? "");
        Console.WriteLine($"wrote {r.Require("--out")}");
        return 0;
    }

    if (args.Length > 0 && args[0] == "scaleout")
    {
        var s = Arguments.Parse(args[1..], ["--url", "--pid", "--storage-pid", "--label", "--json"], ["--quick", "--create-only"]);
        var urls = s.GetAll("--url").Select(LoopbackUrl).ToArray();
        if (urls.Length == 0)
        {
            throw new BenchException("--url is required (once per registry process)");
        }

        var pids = s.GetAll("--pid").Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        var scaleOut = new ScaleOutOptions(
            urls,
            pids,
            s.Get("--storage-pid") is { } storage ? int.Parse(storage, CultureInfo.InvariantCulture) : null,
            s.Get("--label") ?? $"{urls.Length} process(es)",
            s.Has("--quick"),
            s.Get("--json"),
            s.Has("--create-only"));
        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };
        var outcome = await new ScaleOutBenchmark(scaleOut, Console.Error).RunAsync(stop.Token);
        Console.WriteLine(outcome.ToMarkdown());
        if (scaleOut.JsonPath is { } path)
        {
            await outcome.SaveAsync(path);
            Console.Error.WriteLine($"wrote {path}");
        }

        return outcome.Errors.Count == 0 ? 0 : 1;
    }

    var a = Arguments.Parse(args, ["--url", "--pid", "--json", "--tags-timeout", "--only"], ["--quick", "--big", "--append"]);
    var url = LoopbackUrl(a.Require("--url"));

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

static Uri LoopbackUrl(string value)
{
    var url = new Uri(value.TrimEnd('/') + "/");
    return url.Scheme == "http" && IPAddress.TryParse(url.Host, out var ip) && IPAddress.IsLoopback(ip)
        ? url
        : throw new BenchException($"--url {url} is not http://127.0.0.1:PORT: the benchmark only talks to a registry on the loopback interface");
}

static HashSet<string> ParsePhases(string list)
{
    var phases = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
    var unknown = phases.Except(BenchOptions.PhaseNames).ToArray();
    return unknown.Length == 0 ? phases : throw new BenchException($"--only: unknown phase(s) {string.Join(", ", unknown)}; known: {string.Join(", ", BenchOptions.PhaseNames)}");
}
