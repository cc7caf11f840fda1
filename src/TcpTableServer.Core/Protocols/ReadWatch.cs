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
/// so arming and disarming it per request is two plain field writes.
/// </summary>
internal sealed class ReadWatch : IDisposable
{
    private readonly PipeReader _input;
    private readonly IdleSweeper? _sweeper;
    private readonly CancellationToken _closeRequested;
    private readonly CancellationTokenRegistration _closeRegistration;
    private long _armedAt;
    private bool _reading;
    private bool _expired;

    /// <param name="idleTimeout">null, zero, negative or infinite: never time out.</param>
    public ReadWatch(ConnectionContext connection, TimeSpan? idleTimeout)
    {
        _input = connection.Transport.Input;
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
    }

    /// <summary>Position in the sweeper's list; owned by <see cref="IdleSweeper"/>.</summary>
    internal int Slot { get; set; } = -1;

    /// <summary>The host asked to close the connection (graceful shutdown).</summary>
    public bool StopRequested => _closeRequested.IsCancellationRequested;

    /// <summary>The idle timeout expired.</summary>
    public bool IdleExpired => Volatile.Read(ref _expired);

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

    /// <summary>Ends the pending read (after <see cref="TryExpire"/>).</summary>
    internal void CancelRead() => _input.CancelPendingRead();

    public void Dispose()
    {
        _closeRegistration.Dispose();
        _sweeper?.Remove(this);
    }
}
