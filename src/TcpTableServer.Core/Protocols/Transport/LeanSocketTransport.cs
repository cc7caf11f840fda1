using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace TcpTableServer.Protocols.Transport;

/// <summary>Settings of <see cref="LeanSocketTransport"/>.</summary>
public sealed record LeanTransportOptions
{
    /// <summary>Listen backlog (the OS caps it at somaxconn).</summary>
    public int Backlog { get; init; } = 512;

    /// <summary>Unconsumed bytes beyond which a connection receives no more until the handler consumes some; null: no limit.</summary>
    public long? MaxReadBufferSize { get; init; } = 1024 * 1024;

    /// <summary>
    /// Run the handler's continuation on the thread that completed the socket operation (the
    /// epoll thread when socket completions are inline) instead of queueing it to the pool.
    /// </summary>
    public bool InlineContinuations { get; init; }
}

/// <summary>
/// The socket transport of the table listeners, in place of Kestrel's: the same listen
/// sockets (TCP, UNIX, or a descriptor systemd passed), but each accepted connection is a
/// <see cref="LeanConnection"/>: no Pipe pair and no receive and send loops per connection,
/// which is most of what 10 000 idle connections cost under Kestrel's transport
/// (docs/reliability.md, "Memory per connection"). Each listener has its own
/// <see cref="ReturningMemoryPool"/>.
/// </summary>
public sealed class LeanSocketTransport(LeanTransportOptions options) : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint or UnixDomainSocketEndPoint or FileHandleEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new ValueTask<IConnectionListener>(Listener.Bind(endpoint, options));
    }

    private sealed class Listener : IConnectionListener
    {
        private readonly Socket _socket;
        private readonly LeanTransportOptions _options;
        private readonly ReturningMemoryPool _pool = new();
        private readonly bool _tcp;
        private readonly int _maxRead;

        private Listener(Socket socket, EndPoint endPoint, LeanTransportOptions options)
        {
            _socket = socket;
            EndPoint = endPoint;
            _options = options;
            _tcp = socket.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6;
            _maxRead = options.MaxReadBufferSize is { } m and > 0 ? (int)Math.Min(m, int.MaxValue) : int.MaxValue;
        }

        public EndPoint EndPoint { get; }

        /// <summary>Opens the listen socket as Kestrel's transport does (a passed descriptor is already bound).</summary>
        public static Listener Bind(EndPoint endpoint, LeanTransportOptions options)
        {
            Socket socket = endpoint switch
            {
                FileHandleEndPoint fd => new Socket(new SafeSocketHandle((IntPtr)fd.FileHandle, ownsHandle: true)),
                UnixDomainSocketEndPoint => new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified),
                IPEndPoint ip => new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp),
                _ => throw new NotSupportedException($"the socket transport cannot listen on {endpoint}"),
            };
            try
            {
                if (endpoint is IPEndPoint { Address: var a } && a.Equals(IPAddress.IPv6Any)) socket.DualMode = true;
                if (endpoint is not FileHandleEndPoint) socket.Bind(endpoint);
                socket.Listen(options.Backlog);
                return new Listener(socket, socket.LocalEndPoint ?? endpoint, options);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                socket.Dispose();
                throw new AddressInUseException(e.Message, e);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            while (true)
            {
                Socket accepted;
                try
                {
                    accepted = await _socket.AcceptAsync(cancellationToken);
                }
                catch (ObjectDisposedException)
                {
                    return null; // unbound
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.OperationAborted)
                {
                    return null; // unbound
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable)
                {
                    // out of descriptors or memory: wait instead of spinning (the gate normally keeps us below the limit)
                    await Task.Delay(50, cancellationToken);
                    continue;
                }
                catch (SocketException)
                {
                    continue; // reset while in the backlog
                }
                try
                {
                    if (_tcp) accepted.NoDelay = true;
                    accepted.Blocking = false; // sends are tried in the caller's thread; they must not block it
                    return new LeanConnection(accepted, _pool, _maxRead, _options.InlineContinuations);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    accepted.Dispose(); // gone before it was set up
                }
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            _socket.Dispose();
            return default;
        }

        public ValueTask DisposeAsync()
        {
            _socket.Dispose();
            _pool.Dispose();
            return default;
        }
    }
}
