using System.Net.Sockets;
using TcpTableServer.Config;
using TcpTableServer.Tables;

namespace TcpTableServer.Memcache;

/// <summary>
/// One persistent memcached connection shared by many concurrent command attempts:
/// commands are appended to a send buffer. A command on an idle connection is written at
/// once by its caller; while sent commands wait for replies, new ones stay in the buffer
/// and the reader writes them all in one send once every reply to the batch sent before
/// has been read (a cork: one memcached read and write serve many client requests under
/// load). One batch at a time is in flight, so bytes that come after the last reply of a
/// batch and before the next batch is sent are known to answer nothing: the text protocol
/// has no request ids, and behind a batch already sent they would be taken for its reply
/// (a reply given twice, by a faulty memcached or proxy). A command alone is
/// exactly the bytes of spec 3.8; gets queued together share one multi-key get line
/// (<see cref="TryJoinGetLineLocked"/>). One reader matches the
/// replies to the waiting attempts strictly in FIFO order. An error reply that memcached
/// answers in step (<see cref="Verdict.FailedInSync"/>) fails its attempt alone. Any other
/// failed reply, a reply followed by garbage (V31), EOF, a socket error or an overdue
/// attempt closes the connection: the attempt at the head gets its own verdict, and every
/// other attempt in flight, which memcached did not answer, gets <see cref="Verdict.Replay"/>
/// (its client sends it again at once: a neighbour's failure is not its failure). The
/// map's <c>timeout</c> measures memcached's time for the request at the head: from when
/// its command was written or the reply before it was read, whichever is later, so time
/// spent queued behind other requests does not count (<see cref="IsStalled"/>).
/// A pipeline never reconnects; the client replaces a closed one.
/// </summary>
internal sealed class MemcachedPipeline
{
    private const int InitialBufferSize = 16 * 1024;

    private static readonly Reply Replay = new(Verdict.Replay, 0);

    /// <summary>Bounds of one multi-key get line: keys, and bytes (well inside memcached's read buffer).</summary>
    private const int MaxKeysPerGet = 32, MaxGetLine = 2048;

    private readonly object _lock = new();
    private readonly Queue<MemcachedRequest> _inFlight = new();
    private readonly MemcachedReplyParser _parser;
    private readonly long _timeoutMs;
    private readonly Action<MemcachedPipeline> _closed;
    private readonly int _flags, _ttl;
    private Socket? _socket;
    private Timer? _deadlineTimer;
    private byte[] _pending = new byte[InitialBufferSize];
    private byte[] _sending = new byte[InitialBufferSize];
    private int _pendingLength, _count, _unsent;
    private int _getLineStart, _getLineKeys;   // the last get line in _pending, open for more keys while _getLineKeys > 0
    private readonly MemcachedRequest[] _getLine = new MemcachedRequest[MaxKeysPerGet];
    private readonly MemcachedRequest[] _group = new MemcachedRequest[MaxKeysPerGet];   // the reader's: members of the line being answered
    private readonly Reply[] _groupReplies = new Reply[MaxKeysPerGet];
    private bool _connected, _flushing, _aborted, _isClosed;
    private long _headSince;   // TickCount64 when memcached's time for the head began; 0: head not written, or none
    private long _slowAt;      // TickCount64 of the last reply that took memcached longer than _slowMs (0: none)
    private readonly long _slowMs;
    private byte[] _receive;
    private int _start, _end;
    private int _answerable;   // the reader's: requests at the head of the queue sent before the bytes at hand arrived

    /// <param name="parser">the reply parser of the table (its limits and warning texts)</param>
    /// <param name="timeout">per-attempt deadline; null: none</param>
    /// <param name="flags">flags of every set</param>
    /// <param name="ttl">ttl of every set</param>
    /// <param name="closed">called once when the connection is closed, before any attempt on it completes</param>
    /// <param name="slowMs">a reply that takes memcached longer than this marks the connection slow (<see cref="IsSlow"/>)</param>
    public MemcachedPipeline(MemcachedReplyParser parser, TimeSpan? timeout, int flags, int ttl, Action<MemcachedPipeline> closed,
        long slowMs = long.MaxValue)
    {
        _slowMs = slowMs;
        _parser = parser;
        _timeoutMs = timeout is { } t ? (long)t.TotalMilliseconds : 0;
        _flags = flags;
        _ttl = ttl;
        _closed = closed;
        _receive = new byte[Math.Max(InitialBufferSize, parser.LineSizeLimit + 2)];
    }

    /// <summary>Attempts queued or sent and not yet answered (approximate outside the lock).</summary>
    public int InFlight => Volatile.Read(ref _count);

    /// <summary>Commands queued and not yet written (a batch forming behind replies; approximate outside the lock).</summary>
    public int Unsent => Volatile.Read(ref _unsent);

    /// <summary>True once the connection is closed; no attempt can be queued any more.</summary>
    public bool IsClosed => Volatile.Read(ref _isClosed);

    /// <summary>
    /// Whether the request at the head has waited for memcached more than
    /// <paramref name="thresholdMs"/> at <paramref name="now"/> (TickCount64): counted from
    /// when its command was written or the reply before it was read, whichever is later.
    /// </summary>
    public bool IsStalled(long now, long thresholdMs)
    {
        long since = Volatile.Read(ref _headSince);
        return since != 0 && now - since > thresholdMs;
    }

    /// <summary>
    /// Whether memcached is slow on this connection at <paramref name="now"/>: the head has
    /// waited longer than the slow threshold, or a reply took longer than that within the last
    /// four thresholds. (The head alone is not enough: under a closed-loop load new requests
    /// arrive right after a reply, just when the next head's clock has restarted.)
    /// </summary>
    public bool IsSlow(long now)
    {
        if (IsStalled(now, _slowMs)) return true;
        long slowAt = Volatile.Read(ref _slowAt);
        return slowAt != 0 && now - slowAt < 4 * _slowMs;
    }

    /// <summary>Connects and then reads replies until the connection closes (fire and forget).</summary>
    public async Task RunAsync(EndpointSpec endpoint, TimeSpan? connectTimeout)
    {
        Socket socket;
        try
        {
            socket = await MemcachedConnection.ConnectAsync(endpoint, connectTimeout).ConfigureAwait(false);
        }
        catch (Exception e) when (MemcachedConnection.IsIoFailure(e))
        {
            string reason = e is OperationCanceledException ? "Connection timed out" : e.Message;
            Close(null, new Reply(Verdict.ConnectFailed, 0, null, $"connect to {endpoint.Display}: {reason}", MemcacheWarning.Connect));
            return;
        }

        bool flush;
        lock (_lock)
        {
            _socket = socket;
            _connected = true;
            if (_timeoutMs > 0)
            {
                long period = Math.Clamp(_timeoutMs / 8, 10, 250);
                _deadlineTimer = new Timer(static s => ((MemcachedPipeline)s!).CheckDeadline(), this, period, period);
            }
            flush = StartFlushLocked();
        }
        if (_aborted) socket.Dispose();
        if (flush) _ = FlushAsync();
        await ReadLoopAsync(socket).ConfigureAwait(false);
    }

    /// <summary>
    /// Queues one command attempt; false when the connection is already closed (the caller
    /// picks another). The command bytes are written on the caller's thread when no other
    /// write is in progress.
    /// </summary>
    public bool TryEnqueue(MemcachedRequest request, string key, string? value)
    {
        bool flush;
        lock (_lock)
        {
            if (_isClosed) return false;
            int max = MemcachedCommandWriter.MaxLength(request.Command, key, value);
            if (_pending.Length - _pendingLength < max)
                Array.Resize(ref _pending, Math.Max(_pending.Length * 2, _pendingLength + max));
            if (!TryJoinGetLineLocked(request, key)) AppendLocked(request, key, value);
            _inFlight.Enqueue(request);
            _count++;
            _unsent++;
            flush = StartFlushLocked();
        }
        if (flush) _ = FlushAsync();
        return true;
    }

    /// <summary>
    /// Adds a get to the get line still waiting in the send buffer: <c>get k1\r\n</c> becomes
    /// <c>get k1 k2\r\n</c>. memcached answers many keys of one command for a fraction of the
    /// cost of as many commands. Not for a key already on the line (its reply would be ambiguous).
    /// </summary>
    private bool TryJoinGetLineLocked(MemcachedRequest request, string key)
    {
        if (request.Command != MemcachedCommand.Get || _getLineKeys is 0 or >= MaxKeysPerGet
            || _pendingLength - _getLineStart + 1 + key.Length > MaxGetLine)
            return false;
        for (int i = 0; i < _getLineKeys; i++)
            if (_getLine[i].Key == key) return false;
        _pendingLength -= 2;   // the line's CR LF
        _pending[_pendingLength++] = (byte)' ';
        _pendingLength += Octets.GetBytes(key, _pending.AsSpan(_pendingLength));
        _pending[_pendingLength++] = (byte)'\r';
        _pending[_pendingLength++] = (byte)'\n';
        _getLine[_getLineKeys - 1].Group = GetGroup.Member;
        request.Group = GetGroup.Last;
        _getLine[_getLineKeys++] = request;
        return true;
    }

    private void AppendLocked(MemcachedRequest request, string key, string? value)
    {
        int start = _pendingLength;
        _pendingLength += MemcachedCommandWriter.Write(_pending.AsSpan(start), request.Command, key, value, _flags, _ttl);
        _getLineKeys = 0;
        if (request.Command != MemcachedCommand.Get) return;
        _getLineStart = start;
        _getLine[_getLineKeys++] = request;
    }

    /// <summary>Closes the connection (a timeout, a canceled caller, a disposed client); the reader fails what is in flight.</summary>
    public void Abort()
    {
        Socket? socket;
        lock (_lock)
        {
            _aborted = true;
            socket = _socket;
        }
        socket?.Dispose();
    }

    /// <summary>
    /// Whether the caller (a new command, or the reader) must start <see cref="FlushAsync"/>:
    /// only when no sent command is still waiting for its reply; otherwise the command waits
    /// in the send buffer and the reader sends it with everything queued meanwhile once the
    /// last reply is read. One memcached write then carries the commands of many client
    /// requests under load, while a lone request goes out at once.
    /// </summary>
    private bool StartFlushLocked()
    {
        if (!_connected || _flushing || _pendingLength == 0) return false;
        if (_inFlight.Count > _unsent) return false;
        _flushing = true;
        return true;
    }

    /// <summary>Sends the queued commands; stops when nothing is queued or a sent batch waits for its replies.</summary>
    private async Task FlushAsync()
    {
        var socket = _socket!;
        while (true)
        {
            byte[] batch;
            int length;
            lock (_lock)
            {
                if (_pendingLength == 0 || _isClosed || _inFlight.Count > _unsent)
                {
                    _flushing = false;
                    return;
                }
                // every queued command is unsent (the guard): the head goes out now, memcached's time for it starts
                Volatile.Write(ref _headSince, Environment.TickCount64);
                batch = _pending;
                length = _pendingLength;
                _pending = _sending;
                _pendingLength = 0;
                _unsent = 0;
                _getLineKeys = 0;   // the line is on its way: no more keys
                _sending = batch;
            }
            try
            {
                var data = batch.AsMemory(0, length);
                while (!data.IsEmpty)
                {
                    int n = await socket.SendAsync(data, SocketFlags.None).ConfigureAwait(false);
                    data = data[n..];
                }
            }
            catch (Exception e) when (MemcachedConnection.IsIoFailure(e))
            {
                lock (_lock) _flushing = false;
                Abort();
                return;
            }
        }
    }

    /// <summary>Closes the connection when the head has waited for memcached longer than the timeout.</summary>
    private void CheckDeadline()
    {
        bool overdue;
        lock (_lock) overdue = IsStalled(Environment.TickCount64, _timeoutMs);
        if (overdue) Abort();
    }

    /// <summary>Matches replies to the attempts in FIFO order until the connection closes.</summary>
    private async Task ReadLoopAsync(Socket socket)
    {
        bool eof = false;
        while (true)
        {
            while (true)
            {
                MemcachedRequest? head;
                lock (_lock) head = _inFlight.Count > 0 ? _inFlight.Peek() : null;
                if (head is null || _answerable <= 0)
                {
                    // No request, or none sent before the bytes at hand arrived (a request
                    // queued, or written by a caller since): those bytes cannot be its reply.
                    // Memcached closed, or unsolicited bytes: unusable (3.9 POLICY); what
                    // waits is replayed on another connection.
                    if (eof || _start != _end)
                    {
                        Close(null, default);
                        return;
                    }
                    break;
                }
                var input = _receive.AsSpan(_start, _end - _start);
                if (head.Group != GetGroup.Single)
                {
                    if (!ReadGroup(head, input, eof, out bool more)) return;
                    if (more) break;
                    continue;
                }
                var status = _parser.TryParse(head.Command, head.Command == MemcachedCommand.Get ? head.Key : null,
                    input, eof, out Reply reply, out int consumed);
                if (status == ParseStatus.NeedMoreData) break;
                if (head.Trace is { } traced) traced.RawReply = Octets.FromBytes(input[..consumed]);
                _start += consumed;
                if (reply.Verdict is not (Verdict.Done or Verdict.FailedInSync))
                {
                    Close(head, reply);
                    return;
                }
                lock (_lock) DequeueLocked(1);
                _answerable--;
                head.Complete(reply);
            }

            bool flush;
            lock (_lock) flush = StartFlushLocked();
            if (flush) _ = FlushAsync();
            PrepareReceive();
            try
            {
                int n = await socket.ReceiveAsync(_receive.AsMemory(_end), SocketFlags.None).ConfigureAwait(false);
                if (n == 0) eof = true;
                _end += n;
                // A receive cut short by the buffer's end: take what the kernel holds behind it
                // too, so that bytes which came with these are judged before a command is sent
                // behind them (they could not be its reply). Also when the buffer was filled from
                // its start: it grows then (as it would for a long reply), else bytes ending exactly
                // at its end would leave the rest in the kernel for a command sent meanwhile.
                while (n > 0 && _end == _receive.Length && socket.Available > 0)
                {
                    PrepareReceive();
                    n = await socket.ReceiveAsync(_receive.AsMemory(_end), SocketFlags.None).ConfigureAwait(false);
                    if (n == 0) eof = true;
                    _end += n;
                }
            }
            catch (Exception e) when (MemcachedConnection.IsIoFailure(e))
            {
                eof = true;
            }
            lock (_lock) _answerable = _inFlight.Count - _unsent;
        }
    }

    /// <summary>
    /// The reply to the multi-key get line whose first key is <paramref name="head"/>, all
    /// members at once (<see cref="MemcachedReplyParser.TryParseGroup"/>). False when the
    /// reply failed and the connection is closed; <paramref name="more"/> when it is incomplete.
    /// </summary>
    private bool ReadGroup(MemcachedRequest head, ReadOnlySpan<byte> input, bool eof, out bool more)
    {
        int count = 0;
        lock (_lock)
            foreach (var r in _inFlight)
            {
                _group[count++] = r;
                if (r.Group == GetGroup.Last || count == MaxKeysPerGet) break;
            }
        var status = _parser.TryParseGroup(_group, count, input, eof, _groupReplies, out int consumed, out var failure);
        more = status == ParseStatus.NeedMoreData;
        if (more || failure.Verdict != Verdict.Done)
        {
            Array.Clear(_group, 0, count);
            if (more) return true;
            _start += consumed;
            Close(head, failure);
            return false;
        }
        _start += consumed;
        lock (_lock) DequeueLocked(count);
        _answerable -= count;
        for (int i = 0; i < count; i++)
        {
            var r = _group[i];
            _group[i] = null!;
            r.Complete(_groupReplies[i]);
            _groupReplies[i] = default;
        }
        return true;
    }

    /// <summary>Takes <paramref name="n"/> answered requests off the queue; the next head's time starts.</summary>
    private void DequeueLocked(int n)
    {
        long now = Environment.TickCount64;
        if (_headSince != 0 && now - _headSince > _slowMs) Volatile.Write(ref _slowAt, now);
        for (int i = 0; i < n; i++) _inFlight.Dequeue();
        _count -= n;
        // the next request's time starts now if its command is written (else when it is)
        Volatile.Write(ref _headSince, _inFlight.Count > _unsent ? now : 0);
    }

    /// <summary>Makes room at the end of the receive buffer: compacts, or grows when a reply needs more.</summary>
    private void PrepareReceive()
    {
        if (_start == _end) _start = _end = 0;
        if (_end < _receive.Length) return;
        if (_start > 0)
        {
            Buffer.BlockCopy(_receive, _start, _receive, 0, _end - _start);
            _end -= _start;
            _start = 0;
            return;
        }
        Array.Resize(ref _receive, _receive.Length * 2);
    }

    /// <summary>
    /// Closes the connection once: <paramref name="head"/> (still at the front of the queue
    /// when not null) gets <paramref name="headReply"/>; all other attempts get
    /// <paramref name="headReply"/> when there is no head (connect failure), else
    /// <see cref="Verdict.Replay"/>: memcached never answered them.
    /// </summary>
    private void Close(MemcachedRequest? head, Reply headReply)
    {
        MemcachedRequest[] rest;
        Socket? socket;
        lock (_lock)
        {
            if (head is not null) _inFlight.Dequeue();
            _isClosed = true;
            rest = [.. _inFlight];
            _inFlight.Clear();
            _count = 0;
            _headSince = 0;
            socket = _socket;
            _deadlineTimer?.Dispose();
        }
        socket?.Dispose();
        _closed(this);
        head?.Complete(headReply);
        var others = head is null && headReply.Verdict == Verdict.ConnectFailed ? headReply : Replay;
        foreach (var r in rest) r.Complete(others);
    }
}
