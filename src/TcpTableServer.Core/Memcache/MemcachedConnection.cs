using System.Net;
using System.Net.Sockets;
using System.Text;
using TcpTableServer.Config;

namespace TcpTableServer.Memcache;

/// <summary>
/// Per-read/per-write timeout of spec 3.9 (<c>timeout</c>; none when ≤ 0), linked to the
/// caller's token. One instance serves one command attempt.
/// </summary>
internal sealed class IoTimer(TimeSpan? limit, CancellationToken outer) : IDisposable
{
    private CancellationTokenSource? _cts;

    public CancellationToken Start()
    {
        if (limit is not { } l) return outer;
        if (_cts is null || _cts.IsCancellationRequested)
        {
            _cts?.Dispose();
            _cts = CancellationTokenSource.CreateLinkedTokenSource(outer);
        }
        _cts.CancelAfter(l);
        return _cts.Token;
    }

    public void Stop() => _cts?.CancelAfter(Timeout.InfiniteTimeSpan);

    public void Dispose() => _cts?.Dispose();
}

/// <summary>
/// One connection to memcached with its receive buffer: the line and data-block reading
/// rules of spec 3.8/3.9. Socket errors and timeouts surface as exceptions; protocol-level
/// read failures (EOF, over-long line, bad terminator) as null results.
/// </summary>
internal sealed class MemcachedConnection : IDisposable
{
    private readonly Socket _socket;
    private static readonly byte[] Crlf = "\r\n"u8.ToArray();
    private readonly byte[] _buffer = new byte[8192];
    private int _start, _end;

    private MemcachedConnection(Socket socket) => _socket = socket;

    /// <summary>Connects within <paramref name="timeout"/>; throws on failure.</summary>
    public static async Task<MemcachedConnection> ConnectAsync(EndpointSpec endpoint, TimeSpan? timeout,
        CancellationToken ct)
    {
        using var timer = new IoTimer(timeout, ct);
        var token = timer.Start();
        if (endpoint.Kind == EndpointKind.Unix)
        {
            var unix = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await unix.ConnectAsync(new UnixDomainSocketEndPoint(endpoint.Path), token).ConfigureAwait(false);
                return new MemcachedConnection(unix);
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
                return new MemcachedConnection(socket);
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

    /// <summary>
    /// A pooled connection may be reused only when nothing is pending on it: no buffered
    /// bytes and the socket is not readable (a readable idle socket means EOF, reset or
    /// unsolicited data; spec 3.9 POLICY).
    /// </summary>
    public bool IsReusable
    {
        get
        {
            if (_start != _end) return false;
            try { return !_socket.Poll(0, SelectMode.SelectRead); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { return false; }
        }
    }

    public async ValueTask SendAsync(ReadOnlyMemory<byte> data, IoTimer timer)
    {
        var token = timer.Start();
        while (!data.IsEmpty)
        {
            int n = await _socket.SendAsync(data, SocketFlags.None, token).ConfigureAwait(false);
            data = data[n..];
        }
        timer.Stop();
    }

    /// <summary>
    /// Reads one reply line (3.9): at most <paramref name="limit"/> bytes up to LF; if the
    /// limit is reached on a CR, one more byte must be LF. Returns the content without LF
    /// and one preceding CR (cut at a NUL, C-string semantics), or null on EOF or no LF.
    /// </summary>
    public async ValueTask<string?> ReadLineAsync(int limit, IoTimer timer)
    {
        var line = new StringBuilder();
        int count = 0, last = -1;
        while (count < limit)
        {
            if (_start == _end && !await FillAsync(timer).ConfigureAwait(false)) return null;
            last = _buffer[_start++];
            count++;
            if (last == '\n') break;
            line.Append((char)last);
        }
        if (last != '\n')
        {
            if (last != '\r') return null;
            if (_start == _end && !await FillAsync(timer).ConfigureAwait(false)) return null;
            if (_buffer[_start++] != '\n') return null;
        }
        if (line.Length > 0 && line[^1] == '\r') line.Length--;
        var text = line.ToString();
        int nul = text.IndexOf('\0');
        return nul < 0 ? text : text[..nul];
    }

    /// <summary>Reads exactly <paramref name="length"/> data bytes followed by exactly CR LF (3.8); null otherwise.</summary>
    public async ValueTask<byte[]?> ReadBlockAsync(int length, IoTimer timer)
    {
        var data = new byte[length];
        int have = 0;
        while (have < length)
        {
            if (_start == _end && !await FillAsync(timer).ConfigureAwait(false)) return null;
            int n = Math.Min(length - have, _end - _start);
            Buffer.BlockCopy(_buffer, _start, data, have, n);
            _start += n;
            have += n;
        }
        foreach (byte expected in Crlf)
        {
            if (_start == _end && !await FillAsync(timer).ConfigureAwait(false)) return null;
            if (_buffer[_start++] != expected) return null;
        }
        return data;
    }

    private async ValueTask<bool> FillAsync(IoTimer timer)
    {
        _start = _end = 0;
        var token = timer.Start();
        int n = await _socket.ReceiveAsync(_buffer.AsMemory(), SocketFlags.None, token).ConfigureAwait(false);
        timer.Stop();
        _end = n;
        return n > 0;
    }

    public void Dispose() => _socket.Dispose();
}
