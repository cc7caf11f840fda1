using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace TcpTableServer.Protocols.Transport;

/// <summary>
/// One listener's accept loops and connections, in place of a Kestrel server: each accepted
/// connection runs <c>handler</c> on the thread pool and is disposed when it returns. Kestrel
/// kept per connection a KestrelConnection with its cancellation and completion sources, an
/// execution state machine, connection-manager entries and a metrics context (about 600 bytes
/// each); this keeps one entry in a set and the handler's own task.
/// <see cref="StopAsync"/> behaves as Kestrel's stop: no more accepts, every connection asked
/// to close after the answers in flight (its pending read cancelled, S24), and those still
/// open when the stop timeout ends are aborted.
/// </summary>
public sealed class ConnectionDispatcher(IConnectionListenerFactory transport, ConnectionDelegate handler, ILogger logger)
{
    private readonly List<IConnectionListener> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly HashSet<ConnectionContext> _open = new(ReferenceEqualityComparer.Instance);
    private TaskCompletionSource? _drained;
    private bool _stopping;

    /// <summary>The bound addresses (a port 0 resolved).</summary>
    public IEnumerable<EndPoint> EndPoints => _listeners.Select(l => l.EndPoint);

    /// <summary>Connections open now.</summary>
    public int Count
    {
        get { lock (_open) return _open.Count; }
    }

    /// <summary>Binds <paramref name="endpoint"/> and starts accepting on it; a bind failure is an <see cref="IOException"/> naming the address.</summary>
    public async Task BindAsync(EndPoint endpoint, CancellationToken ct)
    {
        IConnectionListener listener;
        try
        {
            listener = await transport.BindAsync(endpoint, ct);
        }
        catch (Exception e) when (e is AddressInUseException or System.Net.Sockets.SocketException)
        {
            throw new IOException($"Failed to bind to address {Describe(endpoint)}: {e.Message}", e);
        }
        _listeners.Add(listener);
        _acceptLoops.Add(AcceptLoop(listener));
    }

    private static string Describe(EndPoint ep) => ep switch
    {
        IPEndPoint ip => $"{(ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ip.Address}]" : ip.Address)}:{ip.Port}",
        FileHandleEndPoint fd => $"file descriptor {fd.FileHandle}",
        _ => ep.ToString() ?? "?",
    };

    private async Task AcceptLoop(IConnectionListener listener)
    {
        while (true)
        {
            ConnectionContext? connection;
            try
            {
                connection = await listener.AcceptAsync();
            }
            catch (Exception e)
            {
                logger.LogError(e, "accept failed on {EndPoint}; the listener stops accepting", listener.EndPoint);
                return;
            }
            if (connection is null) return; // unbound
            lock (_open)
            {
                if (_stopping)
                {
                    connection.Abort(new ConnectionAbortedException("the listener is closing"));
                    _ = connection.DisposeAsync();
                    continue;
                }
                _open.Add(connection);
            }
            ThreadPool.UnsafeQueueUserWorkItem(static s => _ = s.Dispatcher.RunAsync(s.Connection), (Dispatcher: this, Connection: connection), preferLocal: false);
        }
    }

    private async Task RunAsync(ConnectionContext connection)
    {
        try
        {
            await handler(connection);
        }
        catch (Exception e)
        {
            logger.LogError(e, "connection {ConnectionId}: unhandled exception in its handler", connection.ConnectionId);
        }
        try
        {
            await connection.DisposeAsync();
        }
        catch (Exception e)
        {
            logger.LogError(e, "connection {ConnectionId}: closing failed", connection.ConnectionId);
        }
        finally
        {
            TaskCompletionSource? drained = null;
            lock (_open)
            {
                _open.Remove(connection);
                if (_open.Count == 0) drained = _drained;
            }
            drained?.TrySetResult();
        }
    }

    /// <summary>
    /// Stops accepting, asks every connection to close after its answers in flight, waits for
    /// them until <paramref name="ct"/> fires, then aborts the rest and waits briefly for them.
    /// </summary>
    public async Task StopAsync(CancellationToken ct)
    {
        List<ConnectionContext> open;
        var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        foreach (var l in _listeners) await l.UnbindAsync(CancellationToken.None);
        await Task.WhenAll(_acceptLoops);
        lock (_open)
        {
            _stopping = true;
            _drained = drained;
            open = [.. _open];
            if (open.Count == 0) drained.TrySetResult();
        }
        foreach (var c in open) c.Transport.Input.CancelPendingRead();
        try
        {
            await drained.Task.WaitAsync(ct);
        }
        catch (OperationCanceledException)
        {
            lock (_open) open = [.. _open];
            foreach (var c in open)
                c.Abort(new ConnectionAbortedException("The connection was aborted because the server is shutting down and request processing didn't complete within the time specified by HostOptions.ShutdownTimeout."));
            if (await Task.WhenAny(drained.Task, Task.Delay(TimeSpan.FromSeconds(5))) != drained.Task)
                logger.LogWarning("{Count} connections did not close after being aborted", Count);
        }
        finally
        {
            foreach (var l in _listeners) await l.DisposeAsync();
        }
    }
}
