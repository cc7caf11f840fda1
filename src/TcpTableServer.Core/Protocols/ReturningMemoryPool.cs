using System.Buffers;
using System.Collections.Concurrent;

namespace TcpTableServer.Protocols;

/// <summary>
/// The transport's buffer pool (4 KiB blocks for every socket read and write), which gives
/// memory back: at most <see cref="MaxRetained"/> free blocks are kept for reuse (the steady
/// state of a busy server needs a few per active connection: no allocation per request);
/// blocks returned beyond that are dropped for the GC. Kestrel's pinned block pool keeps
/// every block it ever handed out, pinned after a burst's connections went idle, and trims
/// them only slowly (docs/benchmarks.md). Blocks are ordinary
/// arrays, not pinned: on Linux the socket pins a buffer only for the system call.
/// <see cref="MemoryTrim"/> makes sure dropped blocks are collected once a burst is over.
/// </summary>
public sealed class ReturningMemoryPool : MemoryPool<byte>
{
    public const int BlockSize = 4096;

    /// <summary>Free blocks kept (4 MiB).</summary>
    public const int MaxRetained = 1024;

    private readonly ConcurrentQueue<Block> _free = new();
    private int _freeCount;

    public override int MaxBufferSize => BlockSize;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
        if (_free.TryDequeue(out Block? block))
        {
            Interlocked.Decrement(ref _freeCount);
            return block;
        }
        return new Block(this);
    }

    private void Return(Block block)
    {
        if (Interlocked.Increment(ref _freeCount) <= MaxRetained)
        {
            _free.Enqueue(block);
            return;
        }
        Interlocked.Decrement(ref _freeCount); // dropped: the GC takes it
    }

    protected override void Dispose(bool disposing) => _free.Clear();

    private sealed class Block(ReturningMemoryPool pool) : IMemoryOwner<byte>
    {
        private readonly byte[] _array = GC.AllocateUninitializedArray<byte>(BlockSize);

        public Memory<byte> Memory => _array;

        public void Dispose() => pool.Return(this);
    }
}
