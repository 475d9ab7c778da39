using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Registry.Bench;

/// <summary>One figure. <see cref="Samples"/> holds every run when the value is their median.</summary>
public sealed record Metric(string Key, string Name, string Unit, double? Value, bool HigherIsBetter, string? Note = null, double[]? Samples = null);

/// <summary>Wall time of a phase, the registry's CPU time during it, and its memory after it.</summary>
public sealed record PhaseStat(string Phase, double Seconds, double ClientCpuSeconds, double? ServerCpuSeconds, double? OtherCpuSeconds, double? VmHwmMiB, double? VmRssMiB, string? Error = null);

public sealed class BenchResult
{
    public string Url { get; set; } = "";

    public string RunId { get; set; } = "";

    public DateTimeOffset Started { get; set; }

    public double TotalSeconds { get; set; }

    public bool Quick { get; set; }

    public bool Big { get; set; }

    public int? Pid { get; set; }

    public List<Metric> Metrics { get; set; } = [];

    public List<PhaseStat> Phases { get; set; } = [];

    public List<string> Notes { get; set; } = [];

    public List<string> Errors { get; set; } = [];

    public Metric? Find(string key) => Metrics.FirstOrDefault(m => m.Key == key);

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public async Task SaveAsync(string path)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        await File.WriteAllTextAsync(path, JsonSerializer.Serialize(this, Json) + "\n");
    }

    /// <summary>Adds a later invocation against the same registry: its metrics replace same-named ones.</summary>
    public void Merge(BenchResult later)
    {
        RunId = $"{RunId}+{later.RunId}";
        TotalSeconds += later.TotalSeconds;
        Quick |= later.Quick;
        Big |= later.Big;
        Pid = later.Pid ?? Pid;
        foreach (var metric in later.Metrics)
        {
            var index = Metrics.FindIndex(m => m.Key == metric.Key);
            if (index >= 0)
            {
                Metrics[index] = metric;
            }
            else
            {
                Metrics.Add(metric);
            }
        }

        Phases.AddRange(later.Phases);
        Notes.AddRange(later.Notes.Where(n => !Notes.Contains(n)));
        Errors.AddRange(later.Errors);
        Order();
    }

    /// <summary>Puts metrics in the order of a single full run, whatever order the invocations had.</summary>
    public void Order()
    {
        string[] keys = ["push_monolithic_mbps", "push_single_post_mbps", "push_chunked_mbps", "pull_mbps", "manifest_get_rps", "manifest_get_p50_ms", "manifest_get_p99_ms", "tags_created", "tag_put_rps", "tags_list_ms", "peak_rss_mib", "big_push_mbps", "big_pull_mbps", "big_peak_rss_mib"];
        Metrics = [.. Metrics.OrderBy(m => Array.IndexOf(keys, m.Key) is var i and >= 0 ? i : keys.Length)];
    }

    public static async Task<BenchResult> LoadAsync(string path)
        => JsonSerializer.Deserialize<BenchResult>(await File.ReadAllTextAsync(path), Json)
            ?? throw new BenchException($"{path} holds no result");

    public string ToMarkdown()
    {
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"Registry {Url}, run {RunId}, {TotalSeconds:F0} s{(Quick ? " (quick)" : "")}");
        md.AppendLine();
        md.AppendLine("| Metric | Value | Unit | Note |");
        md.AppendLine("|---|---:|---|---|");
        foreach (var m in Metrics)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| {m.Name} | {Format(m.Value)} | {m.Unit} | {m.Note ?? ""} |");
        }

        md.AppendLine();
        md.AppendLine("| Phase | Wall s | Registry CPU s | Client CPU s | Other processes CPU s | VmHWM after (MiB) | VmRSS after (MiB) |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var p in Phases)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| {p.Phase}{(p.Error is null ? "" : " (failed)")} | {p.Seconds:F1} | {Format(p.ServerCpuSeconds)} | {Format(p.ClientCpuSeconds)} | {Format(p.OtherCpuSeconds)} | {Format(p.VmHwmMiB)} | {Format(p.VmRssMiB)} |");
        }

        foreach (var e in Errors)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"\nERROR: {e}");
        }

        return md.ToString();
    }

    public static string Format(double? value) => value switch
    {
        null => "n/a",
        double v when double.IsNaN(v) || double.IsInfinity(v) => "n/a",
        double v when Math.Abs(v) >= 1000 => v.ToString("N0", CultureInfo.InvariantCulture),
        double v when Math.Abs(v) >= 100 => v.ToString("F0", CultureInfo.InvariantCulture),
        double v when Math.Abs(v) >= 10 => v.ToString("F1", CultureInfo.InvariantCulture),
        double v => v.ToString("F2", CultureInfo.InvariantCulture),
    };

    /// <summary>A metric as a table cell: its value, else its note (why it has none), else "n/a".</summary>
    public static string Cell(Metric? m) => m is null ? "n/a" : m.Value is null ? (m.Note ?? "n/a") : Format(m.Value);
}
