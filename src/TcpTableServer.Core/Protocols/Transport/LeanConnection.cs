using System.Buffers;
using System.Collections;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

namespace TcpTableServer.Protocols.Transport;

/// <summary>
/// One accepted socket as a <see cref="ConnectionContext"/>, as small as it can be for 10 000
/// idle connections: it is its own duplex pipe and its own feature collection, reads and
/// writes without background loops (<see cref="SocketInput"/>, <see cref="SocketOutput"/>),
/// and makes its id, local end point, items and closed token only when asked.
/// Kestrel's semantics are kept: <see cref="Abort(ConnectionAbortedException)"/> shuts the
/// socket down and closes it at once (a pending read throws the abort's exception);
/// <see cref="DisposeAsync"/>, after the handler returned, sends what was written and not yet
/// flushed (as much as the kernel takes at once), then shuts the socket down (FIN) and closes it.
/// </summary>
public sealed class LeanConnection : ConnectionContext, IDuplexPipe, IFeatureCollection
{
    private readonly Socket _socket;
    private readonly SocketInput _input;
    private readonly SocketOutput _output;
    private string? _id;
    private IDictionary<object, object?>? _items;
    private IDuplexPipe? _transport;
    private EndPoint? _local, _remote;
    private CancellationTokenSource? _closed;
    private KeyValuePair<Type, object>[]? _features;
    private int _featureCount, _revision;
    private ConnectionAbortedException? _abortReason;
    private int _state; // 0 open, 1 transport closed (FIN or error seen), bit 2 aborted, bit 4 disposed
    private const int TransportClosed = 1, AbortedBit = 2, DisposedBit = 4;

    internal LeanConnection(Socket socket, MemoryPool<byte> pool, int maxReadBuffered, bool inline)
    {
        _socket = socket;
        // the accepted socket already holds the peer's address (no allocation); kept so that an
        // access check never sees "unknown" because the socket closed meanwhile
        _remote = socket.RemoteEndPoint;
        _input = new SocketInput(this, socket, pool, maxReadBuffered, inline);
        _output = new SocketOutput(this, socket, pool, inline);
    }

    public override string ConnectionId
    {
        get => _id ??= ConnectionIds.Next();
        set => _id = value;
    }

    public override IFeatureCollection Features => this;

    public override IDictionary<object, object?> Items
    {
        get => _items ??= new Dictionary<object, object?>();
        set => _items = value;
    }

    public override IDuplexPipe Transport
    {
        get => _transport ?? this;
        set => _transport = value;
    }

    PipeReader IDuplexPipe.Input => _input;

    PipeWriter IDuplexPipe.Output => _output;

    /// <summary>Fires once the peer closed its side or the connection failed or closed (made on first use).</summary>
    public override CancellationToken ConnectionClosed
    {
        get
        {
            if (_closed is null)
            {
                var cts = new CancellationTokenSource();
                if (Interlocked.CompareExchange(ref _closed, cts, null) is not null) cts.Dispose();
                else if (Volatile.Read(ref _state) != 0) FireClosed();
            }
            return _closed.Token;
        }
        set => throw new NotSupportedException("the transport owns ConnectionClosed");
    }

    public override EndPoint? LocalEndPoint
    {
        get => _local ??= SocketEndPoint(local: true);
        set => _local = value;
    }

    public override EndPoint? RemoteEndPoint
    {
        get => _remote ??= SocketEndPoint(local: false);
        set => _remote = value;
    }

    private EndPoint? SocketEndPoint(bool local)
    {
        try
        {
            return local ? _socket.LocalEndPoint : _socket.RemoteEndPoint;
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException)
        {
            return null;
        }
    }

    internal bool Aborted => (Volatile.Read(ref _state) & AbortedBit) != 0;

    internal ConnectionAbortedException AbortReason => _abortReason ?? new ConnectionAbortedException("the connection was aborted");

    /// <summary>Whether the connection holds a receive buffer now (an idle one holds none).</summary>
    internal bool HoldsReadBuffer => _input.HoldsBuffer;

    /// <summary>Size of the receive buffer held now (0: none).</summary>
    internal int ReadBufferCapacity => _input.Capacity;

    public override void Abort(ConnectionAbortedException abortReason)
    {
        _abortReason ??= abortReason;
        if ((Interlocked.Or(ref _state, AbortedBit | TransportClosed) & (AbortedBit | DisposedBit)) != 0) return;
        CloseSocket();
        _input.OnAborted();
        FireClosed();
    }

    private int _disposeStarted;

    public override void Abort() => Abort(new ConnectionAbortedException("The connection was aborted by the application via ConnectionContext.Abort()."));

    public override async ValueTask DisposeAsync()
    {
        // once only: a second dispose would return the buffer blocks to the pool again, and a
        // block in the pool twice is two connections' buffer
        if (Interlocked.Exchange(ref _disposeStarted, 1) != 0) return;
        if (!Aborted && _output.Unflushed > 0 && !_output.Flushing)
        {
            // what the kernel takes now; a peer that does not read does not hold the close
            var flush = _output.FlushAsync();
            if (!flush.IsCompleted && (Interlocked.Or(ref _state, DisposedBit | TransportClosed) & (AbortedBit | DisposedBit)) == 0)
                CloseSocket();
            await flush;
        }
        if ((Interlocked.Or(ref _state, DisposedBit | TransportClosed) & (AbortedBit | DisposedBit)) == 0) CloseSocket();
        _input.Complete();
        _output.Dispose();
        _input.DisposeArgs();
        FireClosed();
        _closed?.Dispose();
    }

    /// <summary>Shuts the socket down both ways (FIN to the peer) and closes it; pending operations end.</summary>
    private void CloseSocket()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // the peer may be gone already; the socket is closed either way
        }
        _socket.Dispose();
    }

    /// <summary>The read side saw the end of stream or an error.</summary>
    internal void OnTransportClosed()
    {
        Interlocked.Or(ref _state, TransportClosed);
        FireClosed();
    }

    private void FireClosed()
    {
        var cts = Volatile.Read(ref _closed);
        if (cts is null || cts.IsCancellationRequested) return;
        try
        {
            // never inline: handlers of the token must not run inside a receive's completion
            ThreadPool.UnsafeQueueUserWorkItem(static c =>
            {
                try
                {
                    c.Cancel();
                }
                catch (ObjectDisposedException)
                {
                    // disposed with the connection meanwhile
                }
            }, cts, preferLocal: false);
        }
        catch (ObjectDisposedException)
        {
        }
    }

    // IFeatureCollection: a few entries (Kestrel sets four per connection) in one small array

    bool IFeatureCollection.IsReadOnly => false;

    int IFeatureCollection.Revision => _revision;

    object? IFeatureCollection.this[Type key]
    {
        get
        {
            var f = _features;
            for (int i = 0; i < _featureCount; i++)
                if (f![i].Key == key) return f[i].Value;
            return null;
        }
        set
        {
            _revision++;
            for (int i = 0; i < _featureCount; i++)
            {
                if (_features![i].Key != key) continue;
                if (value is not null) _features[i] = new(key, value);
                else
                {
                    _features[i] = _features[--_featureCount];
                    _features[_featureCount] = default;
                }
                return;
            }
            if (value is null) return;
            if (_features is null) _features = new KeyValuePair<Type, object>[4];
            else if (_featureCount == _features.Length) Array.Resize(ref _features, _featureCount * 2);
            _features[_featureCount++] = new(key, value);
        }
    }

    TFeature? IFeatureCollection.Get<TFeature>() where TFeature : default => (TFeature?)((IFeatureCollection)this)[typeof(TFeature)];

    void IFeatureCollection.Set<TFeature>(TFeature? instance) where TFeature : default => ((IFeatureCollection)this)[typeof(TFeature)] = instance;

    IEnumerator<KeyValuePair<Type, object>> IEnumerable<KeyValuePair<Type, object>>.GetEnumerator()
    {
        for (int i = 0; i < _featureCount; i++) yield return _features![i];
    }

    IEnumerator IEnumerable.GetEnumerator() => ((IEnumerable<KeyValuePair<Type, object>>)this).GetEnumerator();
}

/// <summary>Connection ids as Kestrel makes them: 13 characters of base 32, unique in the process.</summary>
internal static class ConnectionIds
{
    private const string Chars = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
    private static long _last = DateTime.UtcNow.Ticks;

    public static string Next() => string.Create(13, Interlocked.Increment(ref _last), static (span, id) =>
    {
        for (int i = 12; i >= 0; i--, id >>= 5) span[i] = Chars[(int)(id & 31)];
    });
}
