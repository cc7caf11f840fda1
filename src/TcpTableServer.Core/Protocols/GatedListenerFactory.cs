using System.Net;
using Microsoft.AspNetCore.Connections;
using TcpTableServer.Protocols.Transport;
using Microsoft.Extensions.DependencyInjection;

namespace TcpTableServer.Protocols;

/// <summary>
/// A socket transport with a <see cref="ConnectionGate"/> in front of every accept:
/// a client outside the listener's allow list (<see cref="AccessGate"/>) is closed at once,
/// before it counts; every other accepted connection is admitted, admitted by evicting the
/// longest idle one, or closed at once. Kestrel's own accept loop retries at once on every accept error, EMFILE included,
/// so a process that runs out of file descriptors spins there and grows until the runtime
/// aborts ("Out of memory."); the gate's limit stays below the descriptor limit
/// (<see cref="FdLimit"/>), so accept never meets EMFILE.
/// </summary>
public sealed class GatedListenerFactory(
    IConnectionListenerFactory inner, ConnectionGate gate, Func<EndPoint, ListenerGate> listenerFor)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    /// <summary>
    /// Replaces the transport registered by UseSockets/UseKestrel with the gated
    /// <see cref="LeanSocketTransport"/> (call after them), configured as the server configures it. <paramref name="listenerFor"/> maps each endpoint Kestrel binds (as
    /// configured, before port 0 is resolved) to its listener's gate.
    /// </summary>
    public static void Register(IServiceCollection services, ConnectionGate gate, Func<EndPoint, ListenerGate> listenerFor)
    {
        services.AddSingleton<IConnectionListenerFactory>(_ => new GatedListenerFactory(
            new LeanSocketTransport(new LeanTransportOptions { MaxReadBufferSize = Socketmap.SocketmapConnectionHandler.MaxFrameLength + 1 }),
            gate, listenerFor));
    }

    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        ListenerGate listener = listenerFor(endpoint);
        return new GatedListener(await inner.BindAsync(endpoint, cancellationToken), gate, listener);
    }

    public bool CanBind(EndPoint endpoint) => inner is not IConnectionListenerFactorySelector s || s.CanBind(endpoint);

    private sealed class GatedListener(IConnectionListener inner, ConnectionGate gate, ListenerGate listener) : IConnectionListener
    {
        public EndPoint EndPoint => inner.EndPoint;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            while (true)
            {
                ConnectionContext? connection = await inner.AcceptAsync(cancellationToken);
                if (connection is null) return null;
                // The allow list first: a client that may not connect neither takes a place
                // nor makes room by closing an idle allowed connection.
                if (listener.Access is { } access && !access.Check(connection.RemoteEndPoint))
                {
                    await CloseAsync(connection, "client address not allowed");
                    continue;
                }
                switch (gate.TryAdmit(listener, out ReadWatch? victim))
                {
                    case Admission.Refused:
                        listener.LogRefusal(gate.Count);
                        await CloseAsync(connection, "connection limit reached");
                        continue;
                    case Admission.Evicting:
                        listener.LogEviction(victim!, gate.Count);
                        victim!.CancelRead();
                        break;
                }
                return new AdmittedConnection(connection, gate, listener);
            }
        }

        private static async ValueTask CloseAsync(ConnectionContext connection, string reason)
        {
            connection.Abort(new ConnectionAbortedException(reason));
            await connection.DisposeAsync();
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default) => inner.UnbindAsync(cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
