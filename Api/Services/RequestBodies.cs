namespace Registry.Api.Services;

/// <summary>Reads request bodies under an explicit limit: every handler that buffers a body uses it.</summary>
public static class RequestBodies
{
    /// <summary>The body, or null when it is longer than <paramref name="limit"/> (then the rest is not read).</summary>
    public static async Task<byte[]?> ReadBoundedAsync(Stream body, int limit, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }
}
