using System.Net.Sockets;
using TcpTableServer.Config;
using TcpTableServer.Memcache;

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
    public ReadOnlyMemory<byte> Buffered => _buffer.AsMemory(_start, _end - _start);

    /// <summary>Connects to <paramref name="endpoint"/> as memcached connections are opened (every resolved address in turn, no Nagle; UNIX-domain sockets); throws on failure.</summary>
    public static async Task<ClientConnection> ConnectAsync(EndpointSpec endpoint, CancellationToken ct) =>
        new(await MemcachedConnection.ConnectAsync(endpoint, null, ct).ConfigureAwait(false));

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
    /// buffered; false at end of stream. Throws <see cref="InvalidDataException"/> when the
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
