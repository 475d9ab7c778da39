namespace Registry.Grains;

internal static class Paging
{
    /// <summary>Up to <paramref name="limit"/> names after <paramref name="last"/> from an ordinally sorted array.</summary>
    public static NamePage Page(IReadOnlyList<string> sorted, string? last, int limit)
    {
        var start = 0;
        if (last is not null)
        {
            var index = BinarySearch(sorted, last);
            start = index >= 0 ? index + 1 : ~index;
        }

        var count = Math.Max(0, Math.Min(limit, sorted.Count - start));
        var names = new string[count];
        for (var i = 0; i < count; i++)
        {
            names[i] = sorted[start + i];
        }

        return new NamePage(names, start + count < sorted.Count);
    }

    public static int BinarySearch(IReadOnlyList<string> sorted, string value)
    {
        int lo = 0, hi = sorted.Count - 1;
        while (lo <= hi)
        {
            var mid = lo + ((hi - lo) >> 1);
            var c = string.CompareOrdinal(sorted[mid], value);
            if (c == 0)
            {
                return mid;
            }

            if (c < 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return ~lo;
    }
}
