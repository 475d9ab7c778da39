using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;

namespace Registry.Tests;

/// <summary>
/// Requests HttpClient cannot make as an attacker does: a chunked body that never ends, to see
/// how much of it a handler reads before it answers (a bounded handler answers early; one that
/// buffers the whole body never does).
/// </summary>
public static class RawHttp
{
    /// <summary>
    /// Sends <paramref name="method"/> <paramref name="path"/> with a chunked body of zeros until the
    /// server answers (or <paramref name="maxBytes"/> were sent, then the body ends); the status code
    /// of the answer and how many body bytes were written before it came.
    /// </summary>
    public static async Task<(int Status, long Sent)> SendEndlessChunkedAsync(RegistryHost host, string method, string path, AuthenticationHeaderValue? auth, string contentType = "application/json", long maxBytes = 256L * 1024 * 1024)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(host.BaseAddress.Host, host.BaseAddress.Port);
        await using var stream = tcp.GetStream();
        var head = new StringBuilder()
            .Append($"{method} {path} HTTP/1.1\r\nHost: {host.Authority}\r\nContent-Type: {contentType}\r\nTransfer-Encoding: chunked\r\n");
        if (auth is not null)
        {
            head.Append($"Authorization: {auth}\r\n");
        }

        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.Append("\r\n").ToString()));
        using var answered = new CancellationTokenSource();
        var reading = ReadStatusAsync(stream, answered);
        var chunk = Encoding.ASCII.GetBytes($"{64 * 1024:x}\r\n").Concat(new byte[64 * 1024]).Concat("\r\n"u8.ToArray()).ToArray();
        long sent = 0;
        try
        {
            while (!answered.IsCancellationRequested && sent < maxBytes)
            {
                await stream.WriteAsync(chunk, answered.Token);
                sent += 64 * 1024;
            }

            if (!answered.IsCancellationRequested)
            {
                await stream.WriteAsync("0\r\n\r\n"u8.ToArray(), answered.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // The server answered (and may have closed the connection) while the body was still going.
        }

        return (await reading.WithinAsync(), sent);
    }

    private static async Task<int> ReadStatusAsync(NetworkStream stream, CancellationTokenSource answered)
    {
        var buffer = new byte[1024];
        var text = new StringBuilder();
        try
        {
            while (!text.ToString().Contains("\r\n", StringComparison.Ordinal))
            {
                var read = await stream.ReadAsync(buffer);
                if (read == 0)
                {
                    return 0;
                }

                text.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }
        }
        finally
        {
            await answered.CancelAsync();
        }

        // "HTTP/1.1 413 Payload Too Large"
        return int.Parse(text.ToString().Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }
}
