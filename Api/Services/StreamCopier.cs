using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;

namespace Registry.Api.Services;

/// <summary>Moves blob bytes with pooled buffers, hashing on the way in; never holds a whole blob.</summary>
public static class StreamCopier
{
    // Big enough that hashing and writing run in long stretches; small enough that the shared
    // pool's retained copies cost little memory (the filesystem driver buffers 4 MiB itself).
    private const int BufferSize = 256 * 1024;

    /// <summary>
    /// Copies <paramref name="source"/> to <paramref name="destination"/>, feeding every byte to
    /// <paramref name="hash"/>. Stops after <paramref name="limit"/> + 1 bytes, so a caller can tell
    /// a body longer than announced from one that fits. Returns the bytes copied; <paramref name="copied"/>
    /// hears of them as they go.
    /// </summary>
    public static async Task<long> CopyAsync(Stream source, Stream destination, IncrementalHash hash, long limit, Action<long>? copied, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            long total = 0;
            while (total <= limit)
            {
                var want = (int)Math.Min(buffer.Length, limit - total + 1);
                var filled = 0;
                int read;
                do
                {
                    read = await source.ReadAsync(buffer.AsMemory(filled, want - filled), cancellationToken);
                    filled += read;
                }
                while (read > 0 && filled < want);

                if (filled == 0)
                {
                    break;
                }

                hash.AppendData(buffer, 0, filled);
                await destination.WriteAsync(buffer.AsMemory(0, filled), cancellationToken);
                total += filled;
                copied?.Invoke(filled);
                if (read == 0)
                {
                    break;
                }
            }

            return total;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Feeds <paramref name="source"/> to <paramref name="hash"/> (rebuilding a hash from storage).</summary>
    public static async Task HashAsync(Stream source, IncrementalHash hash, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            int read;
            while ((read = await source.ReadAsync(buffer, cancellationToken)) > 0)
            {
                hash.AppendData(buffer, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Sends <paramref name="count"/> bytes of <paramref name="source"/> straight into the response pipe, a
    /// window at a time leased from <paramref name="budget"/>; <paramref name="sent"/> hears of them as they go.
    /// A big window means few send calls and few wake-ups of the receiver, which under a hypervisor cost
    /// more than copying the bytes (docs/architecture.md, Buffers, has the measurement).
    /// </summary>
    public static async Task SendAsync(Stream source, PipeWriter destination, long count, ReadWindowBudget budget, Action<long>? sent, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            var window = budget.Lease(count);
            try
            {
                // Storage reads land directly in the pipe's blocks (the most recently used first, so
                // still in the CPU cache); the window is flushed to the socket at once, and given
                // back when the client has taken all but Kestrel's own response buffer of it.
                var unflushed = 0;
                while (count > 0 && unflushed < window.Size)
                {
                    var memory = destination.GetMemory(LargeBlockMemoryPool.BlockSize);
                    var read = await source.ReadAsync(memory[..(int)Math.Min(Math.Min(memory.Length, count), window.Size - unflushed)], cancellationToken);
                    if (read == 0)
                    {
                        throw new EndOfStreamException($"blob ended {count} bytes early");
                    }

                    destination.Advance(read);
                    count -= read;
                    unflushed += read;
                    sent?.Invoke(read);
                }

                var flush = await destination.FlushAsync(cancellationToken);
                if (flush.IsCanceled || flush.IsCompleted)
                {
                    return;
                }
            }
            finally
            {
                budget.Return(window);
            }
        }
    }
}
