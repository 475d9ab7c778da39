namespace Registry.Api.Oci;

/// <summary>Reads the paging parameters <c>n</c> and <c>last</c>.</summary>
public static class Query
{
    /// <summary>
    /// <c>n</c> as a page size: absent means <paramref name="max"/>; a number above it is clamped
    /// (the Link header then continues); anything but digits is an error.
    /// </summary>
    public static bool TryPageSize(HttpRequest request, int max, out int size, out OciError? error)
    {
        error = null;
        size = max;
        var text = request.Query["n"].ToString();
        if (!request.Query.ContainsKey("n"))
        {
            return true;
        }

        if (text.Length == 0 || !text.All(char.IsAsciiDigit))
        {
            error = OciErrorCode.PaginationNumberInvalid.WithDetail($"n must be a non-negative integer, not '{(text.Length > 40 ? text[..40] : text)}'");
            return false;
        }

        // Leading zeros say nothing; more than nine digits left is above any int page size.
        var digits = text.AsSpan().TrimStart('0');
        size = digits.Length > 9 ? max : Math.Min(digits.Length == 0 ? 0 : int.Parse(digits, System.Globalization.CultureInfo.InvariantCulture), max);
        return true;
    }

    public static string? Last(HttpRequest request)
        => request.Query.TryGetValue("last", out var last) && last.ToString().Length > 0 ? last.ToString() : null;

    public static string NextLink(string path, int size, string last)
        => $"<{path}?n={size}&last={Uri.EscapeDataString(last)}>; rel=\"next\"";
}
