using System.Net;
using System.Net.Sockets;
using TcpTableServer.Config;

namespace TcpTableServer.Memcache;

/// <summary>
/// Opening a socket to memcached (spec 3.1 endpoints, 3.9 "connect now (limit: timeout)"):
/// TCP (every resolved address in turn, no Nagle) or a UNIX-domain socket.
/// </summary>
internal static class MemcachedConnection
{
    /// <summary>Connects within <paramref name="timeout"/> (null: no limit); throws on failure.</summary>
    public static async Task<Socket> ConnectAsync(EndpointSpec endpoint, TimeSpan? timeout, CancellationToken ct = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (timeout is { } t) cts.CancelAfter(t);
        var token = cts.Token;
        if (endpoint.Kind == EndpointKind.Unix)
        {
            var unix = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await unix.ConnectAsync(new UnixDomainSocketEndPoint(endpoint.Path), token).ConfigureAwait(false);
                return unix;
            }
            catch { unix.Dispose(); throw; }
        }

        int port = endpoint.PortNumber;
        if (port is < 0 or > 65535)
            throw new SocketException((int)SocketError.InvalidArgument, $"bad port \"{endpoint.Port}\"");
        Exception? last = null;
        foreach (var address in await endpoint.ResolveAsync(token).ConfigureAwait(false))
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, port), token).ConfigureAwait(false);
                return socket;
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = e;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        throw last ?? new SocketException((int)SocketError.HostNotFound);
    }

    /// <summary>The failures that make a connect or an attempt fail (as opposed to bugs).</summary>
    public static bool IsIoFailure(Exception e) =>
        e is SocketException or IOException or OperationCanceledException or ObjectDisposedException;
}
