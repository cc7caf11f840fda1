using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace TcpTableServer.Protocols;

/// <summary>
/// Ends a connection's read loop without exceptions: cancels the pending read of the
/// transport when the host asks the connection to close (graceful shutdown) or when the
/// connection stayed idle for the idle timeout (spec 1.5, 2.6). The loop then sees a
/// canceled <see cref="ReadResult"/>, answers what it already holds and returns.
/// </summary>
internal sealed class ReadWatch : IDisposable
{
    private readonly CancellationTokenSource? _idle;
    private readonly TimeSpan _timeout;
    private readonly CancellationToken _closeRequested;
    private readonly CancellationTokenRegistration _closeRegistration;
    private readonly CancellationTokenRegistration _idleRegistration;

    /// <param name="idleTimeout">null, zero, negative or infinite: never time out.</param>
    public ReadWatch(ConnectionContext connection, TimeSpan? idleTimeout)
    {
        PipeReader input = connection.Transport.Input;
        var lifetime = connection.Features.Get<IConnectionLifetimeNotificationFeature>();
        if (lifetime is not null)
        {
            _closeRequested = lifetime.ConnectionClosedRequested;
            _closeRegistration = _closeRequested.Register(CancelRead, input);
        }
        if (idleTimeout is { } t && t > TimeSpan.Zero && t != Timeout.InfiniteTimeSpan)
        {
            _timeout = t;
            _idle = new CancellationTokenSource();
            _idleRegistration = _idle.Token.Register(CancelRead, input);
        }
    }

    /// <summary>The host asked to close the connection (graceful shutdown).</summary>
    public bool StopRequested => _closeRequested.IsCancellationRequested;

    /// <summary>The idle timeout expired.</summary>
    public bool IdleExpired => _idle?.IsCancellationRequested == true;

    /// <summary>Starts the idle clock; call right before waiting for input.</summary>
    public void Arm() => _idle?.CancelAfter(_timeout);

    /// <summary>Stops the idle clock; call as soon as input arrived.</summary>
    public void Disarm() => _idle?.CancelAfter(Timeout.InfiniteTimeSpan);

    public void Dispose()
    {
        _closeRegistration.Dispose();
        _idleRegistration.Dispose();
        _idle?.Dispose();
    }

    private static void CancelRead(object? input) => ((PipeReader)input!).CancelPendingRead();
}
