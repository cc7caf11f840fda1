using System.Net.Sockets;
using TcpTableServer.Config;

namespace TcpTableServer.Tables.Remote;

/// <summary>
/// One client connection to a lookup server (<c>tcp:</c> or <c>socketmap:</c>) with its
/// receive buffer: asynchronous connect, send and receive only (nothing blocks the caller's
/// thread). Used by one request at a time.
/// </summary>
internal sealed class ClientConnection : IDisposable
{
    private readonly Socket _socket;
    private byte[] _buffer = new byte[4096];
    private int _start, _end;

    private ClientConnection(Socket socket) => _socket = socket;

    /// <summary>The bytes received and not yet consumed.</summary>
    public ReadOnlySpan<byte> Buffered => _buffer.AsSpan(_start, _end - _start);

    /// <inheritdoc cref="Buffered"/>
    public ReadOnlyMemory<byte> BufferedMemory => _buffer.AsMemory(_start, _end - _start);

    public static async Task<ClientConnection> ConnectAsync(EndpointSpec endpoint, CancellationToken ct)
    {
        if (endpoint.Kind == EndpointKind.Unix)
        {
            var unix = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await unix.ConnectAsync(new UnixDomainSocketEndPoint(endpoint.Path), ct).ConfigureAwait(false);
                return new ClientConnection(unix);
            }
            catch
            {
                unix.Dispose();
                throw;
            }
        }
        var addresses = await endpoint.ResolveAsync(ct).ConfigureAwait(false);
        if (addresses.Length == 0) throw new SocketException((int)SocketError.HostNotFound);
        if (endpoint.PortNumber is not (> 0 and < 65536)) throw new SocketException((int)SocketError.AddressNotAvailable);
        SocketException? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(address, endpoint.PortNumber, ct).ConfigureAwait(false);
                return new ClientConnection(socket);
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
        throw last!;
    }

    public async ValueTask SendAsync(ReadOnlyMemory<byte> request, CancellationToken ct)
    {
        while (request.Length > 0)
        {
            int n = await _socket.SendAsync(request, SocketFlags.None, ct).ConfigureAwait(false);
            request = request[n..];
        }
    }

    /// <summary>
    /// Receives more bytes into the buffer, growing it up to <paramref name="limit"/> bytes
    /// buffered; false at end of stream. Throws <see cref="EndOfStreamException"/> when the
    /// buffer already holds <paramref name="limit"/> bytes.
    /// </summary>
    public async ValueTask<bool> ReceiveAsync(int limit, CancellationToken ct)
    {
        if (_start == _end) _start = _end = 0;
        int held = _end - _start;
        if (held >= limit) throw new InvalidDataException($"reply longer than {limit} bytes");
        if (_end == _buffer.Length)
        {
            // compact, or grow when more than half is unconsumed
            var into = held < _buffer.Length / 2 ? _buffer : new byte[Math.Max(_buffer.Length, Math.Min(limit, _buffer.Length * 2))];
            Buffer.BlockCopy(_buffer, _start, into, 0, held);
            _buffer = into;
            _start = 0;
            _end = held;
        }
        int room = Math.Min(_buffer.Length - _end, limit - held);
        int n = await _socket.ReceiveAsync(_buffer.AsMemory(_end, room), SocketFlags.None, ct).ConfigureAwait(false);
        _end += n;
        return n > 0;
    }

    /// <summary>Takes <paramref name="count"/> bytes off the front of the buffer.</summary>
    public void Consume(int count) => _start += count;

    public void Dispose() => _socket.Dispose();
}
