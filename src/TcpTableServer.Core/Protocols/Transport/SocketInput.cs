using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;
using Microsoft.AspNetCore.Connections;

namespace TcpTableServer.Protocols.Transport;

/// <summary>
/// The read side of a <see cref="LeanConnection"/>: a <see cref="PipeReader"/> that receives
/// from the socket only when the handler reads, into one contiguous buffer, instead of a
/// <see cref="Pipe"/> filled by a background receive loop. While the connection waits for a
/// request it holds no buffer: a zero-byte receive waits for data, then a pooled 4 KiB block
/// takes the bytes. A request longer than the block grows the buffer (a plain array, dropped
/// once consumed), so a codec always sees one segment. Nothing is received while more than
/// <c>maxBuffered</c> bytes wait unconsumed (the largest request a codec accepts); such a read
/// ends only by <see cref="CancelPendingRead"/> or an abort, as Kestrel's paused pipe did.
/// Outcomes as Kestrel's socket transport reports them: end of stream (the client's FIN)
/// completes the reader, a reset throws <see cref="ConnectionResetException"/>, an abort
/// throws the abort's <see cref="ConnectionAbortedException"/>.
/// </summary>
internal sealed class SocketInput : PipeReader, IValueTaskSource<ReadResult>
{
    private readonly LeanConnection _connection;
    private readonly Socket _socket;
    private readonly MemoryPool<byte> _pool;
    private readonly int _maxBuffered;
    private readonly bool _inline;
    private readonly ReceiveArgs _args;

    /// <summary>Free bytes below which the buffer is compacted before a receive.</summary>
    private const int MinReceive = 512;

    /// <summary>Buffers grow by doubling up to this size, then to the read limit at once (<see cref="Grow"/>).</summary>
    private const int DoublingLimit = 64 * 1024;
    private ManualResetValueTaskSourceCore<ReadResult> _source;
    private CancellationTokenRegistration _tokenRegistration;

    // the buffer: bytes [_start, _end) received and not consumed; [_start, _examined) seen by the handler
    private IMemoryOwner<byte>? _owner;
    private byte[]? _array;
    private int _start, _end, _examined;

    private bool _receiving;   // a socket receive is in flight (into _array[_end..] unless it waits for data)
    private bool _dataNext;    // the zero-byte wait completed: the next receive takes bytes
    private bool _readPending; // the handler awaits ReadAsync
    private bool _cancelNext;  // CancelPendingRead with no read pending: the next read returns canceled
    private bool _eof;         // the peer half-closed
    private bool _done;        // the handler completed the reader or the connection was disposed
    private Exception? _error;

    public SocketInput(LeanConnection connection, Socket socket, MemoryPool<byte> pool, int maxBuffered, bool inline)
    {
        _connection = connection;
        _socket = socket;
        _pool = pool;
        _maxBuffered = maxBuffered;
        _inline = inline;
        _args = new ReceiveArgs(this);
    }

    private object Sync => _args;

    /// <summary>Whether the connection holds a receive buffer now (tests: an idle one must not).</summary>
    internal bool HoldsBuffer
    {
        get { lock (Sync) return _array is not null; }
    }

    /// <summary>Size of the receive buffer held now, 0 for none (tests: a large request's buffer stays near the read limit).</summary>
    internal int Capacity
    {
        get { lock (Sync) return _array?.Length ?? 0; }
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        short version;
        lock (Sync)
        {
            if (_readPending) throw new InvalidOperationException("a read is already pending");
            if (_done) throw new InvalidOperationException("the reader was completed");
            if (TryTakeResult(out ReadResult ready)) return new ValueTask<ReadResult>(ready);
            cancellationToken.ThrowIfCancellationRequested();
            _source.Reset();
            version = _source.Version;
            _readPending = true;
            if (cancellationToken.CanBeCanceled)
                _tokenRegistration = cancellationToken.UnsafeRegister(static s => ((SocketInput)s!).CancelFromToken(), this);
            // waiting without a receive: one already in flight completes this read, or the buffer is full
            if (_receiving || _end - _start >= _maxBuffered) return new ValueTask<ReadResult>(this, version);
            _receiving = true;
        }
        Receive();
        return new ValueTask<ReadResult>(this, version);
    }

    public override bool TryRead(out ReadResult result)
    {
        lock (Sync)
        {
            if (_readPending) throw new InvalidOperationException("a read is already pending");
            return TryTakeResult(out result);
        }
    }

    /// <summary>A result available without receiving (under the lock): canceled, failed, unexamined bytes, or end of stream.</summary>
    private bool TryTakeResult(out ReadResult result)
    {
        if (_error is not null) throw _error;
        if (_cancelNext)
        {
            _cancelNext = false;
            result = new ReadResult(Buffered(), isCanceled: true, isCompleted: _eof);
            return true;
        }
        if (_end > _examined || _eof)
        {
            result = new ReadResult(Buffered(), isCanceled: false, isCompleted: _eof);
            return true;
        }
        result = default;
        return false;
    }

    private ReadOnlySequence<byte> Buffered() =>
        _array is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(_array, _start, _end - _start);

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        lock (Sync)
        {
            if (_array is null) return; // the handler had an empty buffer and still has
            int c = IndexOf(consumed), x = IndexOf(examined);
            if (x < c) throw new InvalidOperationException("examined before consumed");
            _start = c;
            _examined = x;
            if (_start == _end && !_receiving) Release();
        }
    }

    /// <summary>
    /// A position of a buffer this reader returned, as an index into <see cref="_array"/>;
    /// a position of the empty buffer (returned before the bytes now held arrived) is the start.
    /// </summary>
    private int IndexOf(SequencePosition position)
    {
        object? o = position.GetObject();
        if (o is byte[] { Length: 0 } || o is null) return _start;
        if (!ReferenceEquals(o, _array)) throw new InvalidOperationException("a position of a buffer this reader no longer holds");
        int i = position.GetInteger();
        if (i < _start || i > _end) throw new ArgumentOutOfRangeException(nameof(position), "position outside the unconsumed bytes");
        return i;
    }

    public override void CancelPendingRead()
    {
        ReadResult result;
        lock (Sync)
        {
            if (!_readPending)
            {
                _cancelNext = true;
                return;
            }
            _readPending = false;
            result = new ReadResult(Buffered(), isCanceled: true, isCompleted: _eof);
        }
        // never inline: the caller is a sweeper, the gate or the host's stop, not the connection's thread
        Deliver(result, null, inline: false);
    }

    private void CancelFromToken()
    {
        lock (Sync)
        {
            if (!_readPending) return;
            _readPending = false;
        }
        Deliver(default, new OperationCanceledException("the read was canceled by its token"), inline: false);
    }

    public override void Complete(Exception? exception = null)
    {
        lock (Sync)
        {
            _done = true;
            if (!_receiving) Release();
        }
    }

    /// <summary>The connection was aborted: a read waiting without a receive ends with the abort's exception (a receive in flight fails as the socket closes).</summary>
    internal void OnAborted()
    {
        Exception error;
        lock (Sync)
        {
            _error ??= _connection.AbortReason;
            if (!_readPending || _receiving) return;
            _readPending = false;
            error = _error;
        }
        Deliver(default, error, inline: false);
    }

    /// <summary>
    /// Issues receives until one is in flight or a read's outcome is known (caller set
    /// <see cref="_receiving"/>). A receive that completes at once is handled here, without
    /// a thread hop; one that completes later continues in <see cref="OnReceiveCompleted"/>.
    /// </summary>
    private void Receive()
    {
        while (true)
        {
            Memory<byte> target = default;
            Exception? failure = null;
            bool deliver = false;
            lock (Sync)
            {
                if (_done || _error is not null)
                {
                    _receiving = false;
                    if (_done) Release();
                    deliver = TakePending(out failure);
                    if (!deliver) return;
                }
                else target = NextTarget();
            }
            if (deliver)
            {
                Deliver(default, failure, _inline);
                return;
            }
            bool pending;
            try
            {
                // inside the try: a close on the handler's thread may dispose the args between the
                // lock above and here (a stop or eviction waking the zero-byte wait), and
                // SetBuffer then throws as ReceiveAsync does; both mean the receive is over
                _args.SetBuffer(target);
                pending = _socket.ReceiveAsync(_args);
            }
            catch (ObjectDisposedException)
            {
                Received(SocketError.OperationAborted, 0, waited: target.IsEmpty);
                return;
            }
            if (pending) return;
            if (!Received(_args.SocketError, _args.BytesTransferred, waited: target.IsEmpty)) return;
        }
    }

    /// <summary>What the next receive fills (under the lock): nothing while no byte is buffered (the wait for data), else the free end of the buffer.</summary>
    private Memory<byte> NextTarget()
    {
        if (_start == _end && !_dataNext)
        {
            Release();
            return Memory<byte>.Empty;
        }
        _dataNext = false;
        if (_array is null)
        {
            _owner = _pool.Rent(ReturningMemoryPool.BlockSize);
            _array = ArrayOf(_owner.Memory);
            _start = _end = _examined = 0;
        }
        else if (_start == _end)
        {
            _start = _end = _examined = 0;
        }
        // little room left behind a partial request: move it to the front (or grow a full buffer)
        // rather than receive a few bytes at a time
        if (_array.Length - _end < MinReceive)
        {
            if (_start > 0) Compact(_array);
            if (_end == _array.Length) Grow();
        }
        return _array.AsMemory(_end);
    }

    /// <summary>Moves the unconsumed bytes to the front of <paramref name="to"/>.</summary>
    private void Compact(byte[] to)
    {
        Buffer.BlockCopy(_array!, _start, to, 0, _end - _start);
        _examined -= _start;
        _end -= _start;
        _start = 0;
    }

    /// <summary>
    /// A full buffer of unconsumed bytes (a request longer than one block): a plain array twice
    /// the size up to 64 KiB, then at once the read limit and one block (receiving stops at the
    /// limit). Doubling on to 1 MiB left about 1 MiB of dropped large arrays per connection on
    /// top of the 1 MiB request, and capping the doubling at the limit alone saved little
    /// (docs/benchmarks.md); this way a maximal request takes its 1 MiB and about 128 KiB of
    /// small garbage.
    /// </summary>
    private void Grow()
    {
        long cap = Math.Max((long)_maxBuffered + ReturningMemoryPool.BlockSize, _array!.Length + ReturningMemoryPool.BlockSize);
        long size = _array.Length < DoublingLimit ? Math.Min((long)_array.Length * 2, cap) : cap;
        var bigger = GC.AllocateUninitializedArray<byte>((int)Math.Min(size, Array.MaxLength));
        Compact(bigger);
        if (_owner is null) MemoryTrim.Dropped(_array.Length);
        _owner?.Dispose();
        _owner = null;
        _array = bigger;
    }

    private static byte[] ArrayOf(Memory<byte> memory) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray<byte>(memory, out var segment) && segment.Offset == 0
            ? segment.Array! : throw new InvalidOperationException("the transport's pool must hand out whole arrays");

    /// <summary>Gives the buffer back (under the lock; never while a receive fills it).</summary>
    private void Release()
    {
        if (_owner is null && _array is not null) MemoryTrim.Dropped(_array.Length);
        _owner?.Dispose();
        _owner = null;
        _array = null;
        _start = _end = _examined = 0;
    }

    /// <summary>
    /// Takes a receive's outcome; true when the next receive should follow at once (the
    /// wait for data completed). A pending read gets the bytes, the end of stream or the error.
    /// </summary>
    private bool Received(SocketError error, int bytes, bool waited)
    {
        bool closed = false;
        ReadResult result = default;
        Exception? failure = null;
        bool deliver;
        lock (Sync)
        {
            // an abort shuts the socket down before closing it: the end of stream that shutdown
            // makes a receive see is the abort, not the peer's FIN
            if (_connection.Aborted) error = SocketError.OperationAborted;
            if (error == SocketError.Success && waited && !_done)
            {
                _dataNext = true;
                return true;
            }
            _receiving = false;
            _dataNext = false;
            if (error != SocketError.Success)
            {
                _error ??= Failure(error);
                closed = true;
            }
            else if (!waited)
            {
                if (bytes == 0)
                {
                    _eof = true;
                    closed = true;
                }
                else _end += bytes;
            }
            if (_done) Release();
            else if (_error is null && _readPending && !_eof && _end == _examined && _end - _start < _maxBuffered)
            {
                _receiving = true; // nothing new for the pending read: receive again
                return true;
            }
            deliver = TakePending(out failure);
            if (deliver && failure is null) result = new ReadResult(Buffered(), isCanceled: false, isCompleted: _eof);
        }
        if (closed) _connection.OnTransportClosed();
        if (deliver) Deliver(result, failure, _inline);
        return false;
    }

    /// <summary>Whether a pending read is to be completed now, and with which failure (under the lock).</summary>
    private bool TakePending(out Exception? failure)
    {
        failure = null;
        if (!_readPending) return false;
        if (_error is not null) failure = _error;
        else if (_done) failure = new InvalidOperationException("the reader was completed");
        else if (_end == _examined && !_eof) return false; // nothing new (a zero-length wait in the middle): keep waiting
        _readPending = false;
        return true;
    }

    private Exception Failure(SocketError error)
    {
        if (_connection.Aborted) return _connection.AbortReason;
        var socketError = new SocketException((int)error);
        return error switch
        {
            SocketError.ConnectionReset or SocketError.Shutdown => new ConnectionResetException(socketError.Message, socketError),
            SocketError.OperationAborted or SocketError.Interrupted or SocketError.InvalidArgument =>
                new ConnectionAbortedException("the connection was closed", socketError),
            _ => new IOException($"receive failed: {socketError.Message}", socketError),
        };
    }

    private void Deliver(ReadResult result, Exception? failure, bool inline)
    {
        _tokenRegistration.Dispose();
        _tokenRegistration = default;
        _source.RunContinuationsAsynchronously = !inline;
        if (failure is not null) _source.SetException(failure);
        else _source.SetResult(result);
    }

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => _source.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _source.GetStatus(token);

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token,
        ValueTaskSourceOnCompletedFlags flags) => _source.OnCompleted(continuation, state, token, flags);

    private void OnReceiveCompleted()
    {
        bool waited = _args.MemoryBuffer.IsEmpty;
        if (Received(_args.SocketError, _args.BytesTransferred, waited)) Receive();
    }

    /// <summary>The connection's one receive operation, reused for every receive (no execution context flows).</summary>
    private sealed class ReceiveArgs(SocketInput input) : SocketAsyncEventArgs(unsafeSuppressExecutionContextFlow: true)
    {
        protected override void OnCompleted(SocketAsyncEventArgs e) => input.OnReceiveCompleted();
    }

    /// <summary>Frees the receive operation (the connection is disposed; a receive in flight ends as the socket closes).</summary>
    internal void DisposeArgs() => _args.Dispose();
}
