using System.Net.Sockets;
using System.Text;

namespace TcpTableServer.Tests.Support;

/// <summary>
/// One socketmap_table(5) connection kept open for many requests, as Postfix keeps it:
/// a netstring <c>name key</c> out, one netstring reply in. A broken connection answers null.
/// </summary>
public sealed class SocketmapClient : IDisposable
{
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;

    public SocketmapClient(int port, int timeoutMs = 15000)
    {
        _client = new TcpClient("127.0.0.1", port) { NoDelay = true };
        _stream = _client.GetStream();
        _stream.ReadTimeout = timeoutMs;
    }

    /// <summary>The reply's payload ("OK value", "NOTFOUND ", "TEMP ..."), or null when the connection broke.</summary>
    public string? Lookup(string map, string key)
    {
        try
        {
            byte[] payload = Encoding.Latin1.GetBytes($"{map} {key}");
            _stream.Write(Encoding.ASCII.GetBytes($"{payload.Length}:"));
            _stream.Write(payload);
            _stream.Write(","u8);
            int length = 0, b;
            while ((b = _stream.ReadByte()) != ':')
            {
                if (b is < '0' or > '9') return null;
                length = length * 10 + (b - '0');
            }
            var reply = new byte[length + 1];
            _stream.ReadExactly(reply);
            return reply[^1] == ',' ? Encoding.Latin1.GetString(reply, 0, length) : null;
        }
        catch (IOException) { return null; }
        catch (SocketException) { return null; }
    }

    public void Dispose() => _client.Dispose();
}
