namespace Registry.Bench;

internal sealed class Arguments
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<string>> _all = new(StringComparer.Ordinal);

    public static Arguments Parse(string[] args, string[] valued, string[] flags)
    {
        var parsed = new Arguments();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            var (key, inline) = eq > 0 ? (arg[..eq], arg[(eq + 1)..]) : (arg, null);
            if (flags.Contains(key) && inline is null)
            {
                parsed._values[key] = null;
            }
            else if (valued.Contains(key))
            {
                var value = inline ?? (i + 1 < args.Length ? args[++i] : throw new BenchException($"{key} needs a value"));
                parsed._values[key] = value;
                if (!parsed._all.TryGetValue(key, out var values))
                {
                    parsed._all[key] = values = [];
                }

                values.Add(value);
            }
            else
            {
                throw new BenchException($"unknown argument '{arg}'; known: {string.Join(' ', valued.Concat(flags))}");
            }
        }

        return parsed;
    }

    public bool Has(string key) => _values.ContainsKey(key);

    /// <summary>The last value given for <paramref name="key"/>.</summary>
    public string? Get(string key) => _values.GetValueOrDefault(key);

    /// <summary>Every value given for a repeatable option, in order.</summary>
    public IReadOnlyList<string> GetAll(string key) => _all.TryGetValue(key, out var values) ? values : [];

    public string Require(string key) => Get(key) ?? throw new BenchException($"{key} is required");
}
