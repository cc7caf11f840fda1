using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace TcpTableServer.Protocols;

/// <summary>
/// Ends a connection's read loop without exceptions: cancels the pending read of the
/// transport when the host asks the connection to close (graceful shutdown) or when the
/// connection stayed idle for the idle timeout (spec 1.5, 2.6). The loop then sees a
/// canceled <see cref="ReadResult"/>, answers what it already holds and returns.
/// The idle clock is a timestamp and a flag checked by the shared <see cref="IdleSweeper"/>,
/// so arming and disarming it per request is two plain field writes. The same clock tells
/// the <see cref="ConnectionGate"/> which connection has waited for input the longest: at a
/// connection limit that one is evicted (its read cancelled the same way) to admit a new one.
/// </summary>
internal sealed class ReadWatch : IDisposable
{
    private readonly PipeReader _input;
    private readonly IdleSweeper? _sweeper;
    private readonly CancellationToken _closeRequested;
    private readonly CancellationTokenRegistration _closeRegistration;
    private readonly ListenerGate? _listener;
    private long _armedAt;
    private bool _reading;
    private bool _expired;
    private bool _evicted;

    /// <param name="idleTimeout">null, zero, negative or infinite: never time out.</param>
    public ReadWatch(ConnectionContext connection, TimeSpan? idleTimeout)
    {
        _input = connection.Transport.Input;
        ConnectionId = connection.ConnectionId;
        var lifetime = connection.Features.Get<IConnectionLifetimeNotificationFeature>();
        if (lifetime is not null)
        {
            _closeRequested = lifetime.ConnectionClosedRequested;
            _closeRegistration = _closeRequested.Register(static s => ((PipeReader)s!).CancelPendingRead(), _input);
        }
        if (idleTimeout is { } t && t > TimeSpan.Zero && t != Timeout.InfiniteTimeSpan)
        {
            _sweeper = IdleSweeper.For(t);
            _sweeper.Add(this);
        }
        _listener = (connection as AdmittedConnection)?.Listener;
        _listener?.Gate.Track(_listener, this, add: true);
    }

    public string ConnectionId { get; }

    /// <summary>Position in the sweeper's <see cref="WatchList"/>; owned by <see cref="IdleSweeper"/>.</summary>
    internal int Slot = -1;

    /// <summary>Position in the listener's <see cref="WatchList"/> of eviction candidates; owned by <see cref="ListenerGate"/>.</summary>
    internal int GateSlot = -1;

    /// <summary>The host asked to close the connection (graceful shutdown).</summary>
    public bool StopRequested => _closeRequested.IsCancellationRequested;

    /// <summary>The idle timeout expired.</summary>
    public bool IdleExpired => Volatile.Read(ref _expired);

    /// <summary>Closed to make room at a connection limit.</summary>
    public bool Evicted => Volatile.Read(ref _evicted);

    /// <summary>How long the connection has been waiting for input (zero while it is not).</summary>
    public TimeSpan IdleFor => Volatile.Read(ref _reading)
        ? TimeSpan.FromMilliseconds(Environment.TickCount64 - Volatile.Read(ref _armedAt))
        : TimeSpan.Zero;

    /// <summary>Starts the idle clock; call right before waiting for input.</summary>
    public void Arm()
    {
        Volatile.Write(ref _armedAt, Environment.TickCount64);
        Volatile.Write(ref _reading, true);
    }

    /// <summary>Stops the idle clock; call as soon as input arrived.</summary>
    public void Disarm() => Volatile.Write(ref _reading, false);

    /// <summary>Called by the sweeper: marks the watch expired once input has been awaited too long.</summary>
    internal bool TryExpire(long now, long timeoutMs)
    {
        if (!Volatile.Read(ref _reading) || Volatile.Read(ref _expired)) return false;
        if (now - Volatile.Read(ref _armedAt) < timeoutMs) return false;
        Volatile.Write(ref _expired, true);
        return true;
    }

    /// <summary>True with the time it started waiting when the connection waits for input and is still open.</summary>
    internal bool IsIdleSince(out long since)
    {
        since = Volatile.Read(ref _armedAt);
        return Volatile.Read(ref _reading) && !Volatile.Read(ref _expired) && !_evicted;
    }

    /// <summary>Chosen for eviction (under the gate's lock; <see cref="CancelRead"/> follows outside it).</summary>
    internal void MarkEvicted() => Volatile.Write(ref _evicted, true);

    /// <summary>Ends the pending read (after <see cref="TryExpire"/> or <see cref="MarkEvicted"/>).</summary>
    internal void CancelRead() => _input.CancelPendingRead();

    public void Dispose()
    {
        _closeRegistration.Dispose();
        _sweeper?.Remove(this);
        _listener?.Gate.Track(_listener, this, add: false);
    }
}
