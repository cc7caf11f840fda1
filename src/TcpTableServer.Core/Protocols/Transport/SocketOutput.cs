using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace TcpTableServer.Protocols.Transport;

/// <summary>
/// The write side of a <see cref="LeanConnection"/>: a <see cref="PipeWriter"/> that buffers
/// replies in pooled 4 KiB blocks (a larger contiguous span, when asked for, in a plain array)
/// and sends them on <see cref="FlushAsync"/>, instead of a <see cref="Pipe"/> drained by a
/// background send loop. The socket is non-blocking: a flush first sends in the caller's
/// thread; only what the kernel does not take at once (a slow reader) goes out through a
/// send operation borrowed from <see cref="SendArgsPool"/>, and the flush completes when it
/// is sent. The blocks go back to the pool after the send, so an idle connection holds none.
/// A send that fails (reset, abort) makes this and every later flush report
/// <see cref="FlushResult.IsCompleted"/>, as Kestrel's writer does once the peer is gone.
/// </summary>
internal sealed class SocketOutput : PipeWriter, IValueTaskSource<FlushResult>
{
    private readonly LeanConnection _connection;
    private readonly Socket _socket;
    private readonly MemoryPool<byte> _pool;
    private readonly bool _inline;
    private ManualResetValueTaskSourceCore<FlushResult> _source;

    // the block being written, and the full ones before it (a batch of replies over 4 KiB)
    private Chunk _current;
    private List<Chunk>? _full;

    // a flush in progress: the chunk (index in _full, then _current) and offset being sent
    private SendArgs? _args;
    private int _sendChunk, _sendOffset;
    private bool _flushing, _failed, _completed, _cancelNext;

    public SocketOutput(LeanConnection connection, Socket socket, MemoryPool<byte> pool, bool inline)
    {
        _connection = connection;
        _socket = socket;
        _pool = pool;
        _inline = inline;
    }

    private struct Chunk
    {
        public IMemoryOwner<byte>? Owner;
        public byte[]? Array;
        public int Length;
    }

    /// <summary>Bytes written and not yet flushed.</summary>
    internal long Unflushed
    {
        get
        {
            long n = _current.Length;
            if (_full is not null) foreach (var c in _full) n += c.Length;
            return n;
        }
    }

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => Unflushed;

    public override Memory<byte> GetMemory(int sizeHint = 0) => Reserve(sizeHint).AsMemory(_current.Length);

    public override Span<byte> GetSpan(int sizeHint = 0) => Reserve(sizeHint).AsSpan(_current.Length);

    /// <summary>The current chunk with at least <paramref name="sizeHint"/> free bytes (at least 1).</summary>
    private byte[] Reserve(int sizeHint)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sizeHint);
        if (_completed) throw new InvalidOperationException("the writer was completed");
        if (_flushing) throw new InvalidOperationException("a flush is in progress");
        int need = Math.Max(sizeHint, 1);
        if (_current.Array is { } a && a.Length - _current.Length >= need) return a;
        if (_current.Length > 0) (_full ??= []).Add(_current);
        else Free(ref _current);
        _current = New(need);
        return _current.Array!;
    }

    private Chunk New(int need)
    {
        if (need <= ReturningMemoryPool.BlockSize)
        {
            var owner = _pool.Rent(ReturningMemoryPool.BlockSize);
            return new Chunk { Owner = owner, Array = ArrayOf(owner.Memory) };
        }
        // one reply larger than a block asked for one span: a plain array, dropped after the send
        int size = (need + ReturningMemoryPool.BlockSize - 1) / ReturningMemoryPool.BlockSize * ReturningMemoryPool.BlockSize;
        return new Chunk { Array = GC.AllocateUninitializedArray<byte>(size) };
    }

    private static byte[] ArrayOf(Memory<byte> memory) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray<byte>(memory, out var segment) && segment.Offset == 0
            ? segment.Array! : throw new InvalidOperationException("the transport's pool must hand out whole arrays");

    public override void Advance(int bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        if (_current.Array is null ? bytes > 0 : _current.Length + bytes > _current.Array.Length)
            throw new ArgumentOutOfRangeException(nameof(bytes), "advanced past the memory asked for");
        _current.Length += bytes;
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_flushing) throw new InvalidOperationException("a flush is already in progress");
        if (_cancelNext)
        {
            _cancelNext = false;
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: true, isCompleted: false));
        }
        if (_failed || _connection.Aborted)
        {
            FreeAll();
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: true));
        }
        _sendChunk = 0;
        _sendOffset = 0;
        if (SendFromCaller()) return new ValueTask<FlushResult>(Finish());
        _source.Reset();
        _flushing = true;
        if (StartAsyncSend()) return new ValueTask<FlushResult>(this, _source.Version);
        _flushing = false; // the borrowed send completed at once and the rest went too (or it failed)
        return new ValueTask<FlushResult>(Finish());
    }

    /// <summary>The chunk at <paramref name="index"/> in send order: the full ones, then the current one.</summary>
    private ref Chunk ChunkAt(int index)
    {
        int full = _full?.Count ?? 0;
        if (index < full) return ref System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_full)[index];
        return ref _current;
    }

    private int ChunkCount => (_full?.Count ?? 0) + 1;

    /// <summary>Sends from the current position without waiting; true when everything went (or the send failed: <see cref="_failed"/>), false when the kernel buffer is full.</summary>
    private bool SendFromCaller()
    {
        for (; _sendChunk < ChunkCount; _sendChunk++, _sendOffset = 0)
        {
            ref Chunk c = ref ChunkAt(_sendChunk);
            while (_sendOffset < c.Length)
            {
                int sent;
                SocketError error;
                try
                {
                    sent = _socket.Send(c.Array.AsSpan(_sendOffset, c.Length - _sendOffset), SocketFlags.None, out error);
                }
                catch (ObjectDisposedException)
                {
                    _failed = true;
                    return true;
                }
                if (error == SocketError.WouldBlock) return false;
                if (error != SocketError.Success)
                {
                    _failed = true;
                    return true;
                }
                _sendOffset += sent;
            }
        }
        return true;
    }

    /// <summary>
    /// Sends the rest of the current chunk with a borrowed send operation; true when it is in
    /// flight (the flush completes in <see cref="OnSendCompleted"/>), false when everything is done.
    /// </summary>
    private bool StartAsyncSend()
    {
        while (true)
        {
            ref Chunk c = ref ChunkAt(_sendChunk);
            _args ??= SendArgsPool.Rent();
            _args.Output = this;
            _args.SetBuffer(c.Array, _sendOffset, c.Length - _sendOffset);
            bool pending;
            try
            {
                pending = _socket.SendAsync(_args);
            }
            catch (ObjectDisposedException)
            {
                _failed = true;
                return false;
            }
            if (pending) return true;
            if (!AfterAsyncSend()) return false;
        }
    }

    /// <summary>Takes a borrowed send's outcome; true when another borrowed send must follow.</summary>
    private bool AfterAsyncSend()
    {
        if (_args!.SocketError != SocketError.Success)
        {
            _failed = true;
            return false;
        }
        _sendOffset += _args.BytesTransferred;
        if (_sendOffset >= ChunkAt(_sendChunk).Length)
        {
            _sendChunk++;
            _sendOffset = 0;
        }
        // the kernel took what was blocked: try the rest in this thread again
        return !SendFromCaller();
    }

    private void OnSendCompleted()
    {
        if (AfterAsyncSend() && StartAsyncSend()) return;
        _flushing = false;
        var result = Finish();
        _source.RunContinuationsAsynchronously = !_inline;
        _source.SetResult(result);
    }

    /// <summary>Ends a flush: gives the blocks back and the borrowed operation back, and says whether the peer is gone.</summary>
    private FlushResult Finish()
    {
        FreeAll();
        if (_args is not null)
        {
            _args.Output = null;
            SendArgsPool.Return(_args);
            _args = null;
        }
        bool cancel = _cancelNext;
        _cancelNext = false;
        return new FlushResult(isCanceled: cancel && !_failed, isCompleted: _failed);
    }

    private void FreeAll()
    {
        if (_full is not null)
        {
            for (int i = 0; i < _full.Count; i++)
            {
                var c = _full[i];
                Free(ref c);
            }
            _full.Clear();
        }
        Free(ref _current);
    }

    private static void Free(ref Chunk c)
    {
        c.Owner?.Dispose();
        c = default;
    }

    public override void CancelPendingFlush() => _cancelNext = true;

    /// <summary>No more writes; what was written and not flushed is sent when the connection is disposed.</summary>
    public override void Complete(Exception? exception = null) => _completed = true;

    /// <summary>Whether a flush is sending (disposal waits for it rather than free blocks in use).</summary>
    internal bool Flushing => _flushing;

    /// <summary>The connection is gone: frees the blocks (not during a send: that one fails as the socket closes and frees them).</summary>
    internal void Dispose()
    {
        _completed = true;
        if (!_flushing) FreeAll();
    }

    ValueTaskSourceStatus IValueTaskSource<FlushResult>.GetStatus(short token) => _source.GetStatus(token);

    FlushResult IValueTaskSource<FlushResult>.GetResult(short token) => _source.GetResult(token);

    void IValueTaskSource<FlushResult>.OnCompleted(Action<object?> continuation, object? state, short token,
        ValueTaskSourceOnCompletedFlags flags) => _source.OnCompleted(continuation, state, token, flags);

    /// <summary>A send operation lent to one flush at a time (no execution context flows).</summary>
    internal sealed class SendArgs() : SocketAsyncEventArgs(unsafeSuppressExecutionContextFlow: true)
    {
        public SocketOutput? Output;

        protected override void OnCompleted(SocketAsyncEventArgs e) => Output?.OnSendCompleted();
    }
}

/// <summary>
/// Send operations for flushes the kernel could not take at once, shared by all connections:
/// a connection holds one only while its reader is slow, so 10 000 idle connections hold none.
/// At most <see cref="MaxRetained"/> are kept for reuse.
/// </summary>
internal static class SendArgsPool
{
    private const int MaxRetained = 256;
    private static readonly System.Collections.Concurrent.ConcurrentBag<SocketOutput.SendArgs> Free = [];
    private static int _count;

    public static SocketOutput.SendArgs Rent()
    {
        if (Free.TryTake(out var args))
        {
            Interlocked.Decrement(ref _count);
            return args;
        }
        return new SocketOutput.SendArgs();
    }

    public static void Return(SocketOutput.SendArgs args)
    {
        args.SetBuffer(null, 0, 0);
        if (Interlocked.Increment(ref _count) <= MaxRetained)
        {
            Free.Add(args);
            return;
        }
        Interlocked.Decrement(ref _count);
        args.Dispose();
    }
}
