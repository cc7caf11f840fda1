using System.Net.Sockets;
using System.Text;

namespace TcpTableServer.Tests.Support;

/// <summary>
/// One tcp_table(5) connection kept open for many requests, as a Postfix process keeps it:
/// <c>put key value</c> / <c>get key</c> lines, one reply line each. A reset or closed
/// connection answers null (the server died).
/// </summary>
public sealed class TcpLineClient : IDisposable
{
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly StreamReader _reader;

    public TcpLineClient(int port, int timeoutMs = 15000)
    {
        _client = new TcpClient("127.0.0.1", port) { NoDelay = true };
        _stream = _client.GetStream();
        _stream.ReadTimeout = timeoutMs;
        _reader = new StreamReader(_stream, Encoding.Latin1);
    }

    /// <summary>Sends one request line, returns the reply line, or null when the connection broke.</summary>
    public string? Request(string line)
    {
        try
        {
            _stream.Write(Encoding.Latin1.GetBytes(line + "\n"));
            return _reader.ReadLine();
        }
        catch (IOException) { return null; }
        catch (SocketException) { return null; }
    }

    /// <summary>Sends raw octets and reads exactly <paramref name="replyLength"/> bytes back (another protocol on the same socket).</summary>
    public string Raw(string octets, int replyLength)
    {
        _stream.Write(Encoding.Latin1.GetBytes(octets));
        var reply = new byte[replyLength];
        _stream.ReadExactly(reply);
        return Encoding.Latin1.GetString(reply);
    }

    public string? Put(string key, string value) => Request($"put {TcpQuote.Encode(key)} {TcpQuote.Encode(value)}");

    public string? Get(string key) => Request($"get {TcpQuote.Encode(key)}");

    public void Dispose()
    {
        _reader.Dispose();
        _client.Dispose();
    }
}
