using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace Registry.Storage;

/// <summary>The writers that stage an upload's bytes as blocks, with bounded buffers.</summary>
public sealed partial class AzureBlobStore
{
    /// <summary>The block size of writers beyond <see cref="MaxLargeBlockWriters"/>: 50,000 of them still make 48 GiB.</summary>
    public const int SmallBlockSize = 1024 * 1024;

    /// <summary>
    /// Writers staging 4 MiB blocks at once (16 MiB of buffers); the others stage 1 MiB blocks, so
    /// many concurrent pushes cost 1 MiB each beyond that. Blocks are named by offset, so a blob
    /// may mix sizes.
    /// </summary>
    private const int MaxLargeBlockWriters = 4;

    /// <summary>Block buffers of each size kept for the next writer, where the shared array pool would keep several per core.</summary>
    private static readonly BoundedFreeList<byte[]> s_blockBuffers = new(MaxLargeBlockWriters);
    private static readonly BoundedFreeList<byte[]> s_smallBlockBuffers = new(MaxLargeBlockWriters);
    private static int s_largeBlockWriters;

    /// <summary>Stages what is written as blocks named by offset; disposing commits prefix + new blocks.</summary>
    private sealed class BlockWriter(BlockBlobClient data, List<string> blocks, long offset) : WriteOnlyStreamBase
    {
        private byte[]? _buffer = RentBuffer();
        private int _filled;
        private long _offset = offset;

        public override void Flush()
        {
            // Blocks are staged as they fill and committed at dispose.
        }

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
        {
            var buffer = _buffer ?? throw new ObjectDisposedException(nameof(BlockWriter));
            while (!source.IsEmpty)
            {
                var n = Math.Min(source.Length, buffer.Length - _filled);
                source[..n].CopyTo(buffer.AsMemory(_filled));
                _filled += n;
                source = source[n..];
                if (_filled == buffer.Length)
                {
                    await StageAsync(cancellationToken);
                }
            }
        }

        /// <summary>Releases the buffer without staging or committing anything.</summary>
        public void Abandon()
        {
            if (_buffer is not null)
            {
                ReturnBuffer(_buffer);
                _buffer = null;
            }
        }

        public override async ValueTask DisposeAsync()
        {
            if (_buffer is null)
            {
                return;
            }

            try
            {
                await StageAsync(CancellationToken.None);
                await data.CommitBlockListAsync(blocks);
            }
            finally
            {
                ReturnBuffer(_buffer);
                _buffer = null;
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                DisposeAsync().AsTask().GetAwaiter().GetResult();
            }

            base.Dispose(disposing);
        }

        private static byte[] RentBuffer()
        {
            if (Interlocked.Increment(ref s_largeBlockWriters) <= MaxLargeBlockWriters)
            {
                return s_blockBuffers.TryTake() ?? GC.AllocateUninitializedArray<byte>(BlockSize);
            }

            Interlocked.Decrement(ref s_largeBlockWriters);
            return s_smallBlockBuffers.TryTake() ?? GC.AllocateUninitializedArray<byte>(SmallBlockSize);
        }

        private static void ReturnBuffer(byte[] buffer)
        {
            if (buffer.Length == BlockSize)
            {
                Interlocked.Decrement(ref s_largeBlockWriters);
                s_blockBuffers.Return(buffer);
            }
            else
            {
                s_smallBlockBuffers.Return(buffer);
            }
        }

        private async Task StageAsync(CancellationToken cancellationToken)
        {
            if (_filled == 0)
            {
                return;
            }

            var id = BlockId(_offset);
            using (var content = new MemoryStream(_buffer!, 0, _filled, writable: false))
            {
                await data.StageBlockAsync(id, content, cancellationToken: cancellationToken);
            }

            blocks.Add(id);
            _offset += _filled;
            _filled = 0;
        }
    }
}
