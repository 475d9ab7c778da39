using System.Buffers;
using Microsoft.AspNetCore.Connections;
using Registry.Storage;

namespace Registry.Api.Services;

/// <summary>
/// Kestrel's socket buffers in 64 KiB pinned blocks instead of its default 4 KiB ones, so a
/// request body arrives in a sixteenth of the receive calls. Blob pushes are bulk transfers and a
/// receive call is costly (more so under a hypervisor); small requests only borrow a block for
/// the moment they are parsed.
/// </summary>
/// <remarks>
/// Blocks are allocated on the pinned object heap and kept for reuse up to
/// <see cref="MaxRetained"/> (4 MiB); beyond that returned blocks are left to the GC. The most
/// recently returned block is handed out first: it is likely still in the CPU cache, so the
/// kernel copies into it (a receive, a storage read for a blob GET) at cache speed rather than at
/// memory speed.
/// </remarks>
public sealed class LargeBlockMemoryPool : MemoryPool<byte>
{
    public const int BlockSize = 64 * 1024;
    private const int MaxRetained = 64;

    private readonly BoundedFreeList<Block> _free = new(MaxRetained);

    public override int MaxBufferSize => BlockSize;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
        if (_free.TryTake() is not { } block)
        {
            return new Block(this);
        }

        block.Lease();
        return block;
    }

    protected override void Dispose(bool disposing) => _free.Clear();

    private sealed class Block(LargeBlockMemoryPool pool) : IMemoryOwner<byte>
    {
        private readonly byte[] _array = GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);
        private int _leased = 1;

        public Memory<byte> Memory => _array;

        public void Lease() => Volatile.Write(ref _leased, 1);

        public void Dispose()
        {
            // Kestrel returns each block once; a second Dispose must not hand it out twice.
            if (Interlocked.Exchange(ref _leased, 0) == 1)
            {
                pool._free.Return(this);
            }
        }
    }
}

/// <summary>Hands Kestrel's transports a <see cref="LargeBlockMemoryPool"/>.</summary>
public sealed class LargeBlockMemoryPoolFactory : IMemoryPoolFactory<byte>
{
    public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new LargeBlockMemoryPool();
}
