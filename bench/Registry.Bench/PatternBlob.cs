using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;

namespace Registry.Bench;

/// <summary>
/// Deterministic blob content of any size, generated on the fly and never held whole in memory:
/// a 1 MiB pseudo-random pattern repeated, with every 4 KiB page stamped with the seed and its
/// page index so that no two pages of a run are identical (no filesystem can dedupe them).
/// </summary>
public sealed class PatternBlob
{
    public const int BlockSize = 1 << 20;
    private const int PageSize = 4096;
    private const int StampSize = 16;
    private static readonly Dictionary<ulong, byte[]> Patterns = [];
    private readonly byte[] _pattern;
    private string? _digest;

    public PatternBlob(long size, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        Size = size;
        Seed = seed;
        _pattern = PatternFor(seed);
    }

    public long Size { get; }

    public ulong Seed { get; }

    /// <summary>The sha256 digest, computed once by generating the content (not timed by callers).</summary>
    public string Digest => _digest ??= ComputeDigest();

    /// <summary>Writes bytes <c>[offset, offset + destination.Length)</c> of the blob.</summary>
    public void Fill(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset + destination.Length > Size)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), "the range lies outside the blob");
        }

        var written = 0;
        while (written < destination.Length)
        {
            var within = (int)((offset + written) % BlockSize);
            var n = Math.Min(BlockSize - within, destination.Length - written);
            _pattern.AsSpan(within, n).CopyTo(destination.Slice(written, n));
            written += n;
        }

        // Stamp the first bytes of every page that starts (or whose stamp overlaps) the range.
        Span<byte> stamp = stackalloc byte[StampSize];
        var firstPage = offset / PageSize;
        var lastPage = (offset + destination.Length - 1) / PageSize;
        for (var page = firstPage; page <= lastPage && destination.Length > 0; page++)
        {
            var pageStart = page * PageSize;
            var from = Math.Max(pageStart, offset);
            var to = Math.Min(pageStart + StampSize, offset + destination.Length);
            if (from >= to)
            {
                continue;
            }

            BinaryPrimitives.WriteUInt64LittleEndian(stamp, Seed);
            BinaryPrimitives.WriteInt64LittleEndian(stamp[8..], page);
            stamp.Slice((int)(from - pageStart), (int)(to - from)).CopyTo(destination.Slice((int)(from - offset), (int)(to - from)));
        }
    }

    /// <summary>The whole blob as an array; only for small blobs (configs, layers of the test image).</summary>
    public byte[] ToArray()
    {
        if (Size > 16 * 1024 * 1024)
        {
            throw new InvalidOperationException("refusing to materialize a large blob");
        }

        var bytes = new byte[Size];
        Fill(0, bytes);
        return bytes;
    }

    /// <summary>An HTTP body that streams <paramref name="length"/> bytes from <paramref name="start"/>.</summary>
    public HttpContent Content(long start, long length) => new PatternContent(this, start, length);

    private string ComputeDigest()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(BlockSize);
        try
        {
            for (long offset = 0; offset < Size; offset += BlockSize)
            {
                var n = (int)Math.Min(BlockSize, Size - offset);
                Fill(offset, buffer.AsSpan(0, n));
                hash.AppendData(buffer, 0, n);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static byte[] PatternFor(ulong seed)
    {
        lock (Patterns)
        {
            // One pattern per seed family (the upper bits), so many small blobs share one array.
            var family = seed >> 16;
            if (Patterns.TryGetValue(family, out var cached))
            {
                return cached;
            }

            var pattern = new byte[BlockSize];
            var state = family ^ 0x9E3779B97F4A7C15UL;
            for (var i = 0; i < BlockSize; i += 8)
            {
                // splitmix64
                state += 0x9E3779B97F4A7C15UL;
                var z = state;
                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
                z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
                BinaryPrimitives.WriteUInt64LittleEndian(pattern.AsSpan(i), z ^ (z >> 31));
            }

            Patterns[family] = pattern;
            return pattern;
        }
    }

    private sealed class PatternContent : HttpContent
    {
        private readonly PatternBlob _blob;
        private readonly long _start;
        private readonly long _length;

        public PatternContent(PatternBlob blob, long start, long length)
        {
            _blob = blob;
            _start = start;
            _length = length;
            Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/octet-stream");
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context)
            => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(BlockSize);
            try
            {
                var position = _start;
                var end = _start + _length;
                while (position < end)
                {
                    var n = (int)Math.Min(BlockSize - (position % BlockSize), end - position);
                    _blob.Fill(position, buffer.AsSpan(0, n));
                    await stream.WriteAsync(buffer.AsMemory(0, n), cancellationToken);
                    position += n;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = _length;
            return true;
        }
    }
}
