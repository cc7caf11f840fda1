using System.Net.Sockets;
using System.Text;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Differential;

/// <summary>
/// Reads items back from a memcached over one connection (thousands of short connections
/// would exhaust the loopback ports): `get KEY`, value and flags, or null.
/// </summary>
public sealed class CacheReader(MemcachedProcess mc) : IDisposable
{
    private readonly TcpClient _client = new("127.0.0.1", mc.Port);
    private BufferedStream? _stream;

    private BufferedStream Stream => _stream ??= new BufferedStream(_client.GetStream());

    public (string Value, int Flags)? Get(string key)
    {
        Stream.Write(Encoding.Latin1.GetBytes($"get {key}\r\n"));
        Stream.Flush();
        var line = ReadLine();
        if (line == "END") return null;
        var head = line.Split(' ');   // VALUE <key> <flags> <bytes>
        if (head.Length < 4 || head[0] != "VALUE") throw new InvalidOperationException($"get {key}: {line}");
        var data = new byte[int.Parse(head[^1]) + 2];
        Stream.ReadExactly(data);
        if (ReadLine() != "END") throw new InvalidOperationException($"get {key}: no END");
        return (Encoding.Latin1.GetString(data, 0, data.Length - 2), int.Parse(head[^2]));
    }

    private string ReadLine()
    {
        var sb = new StringBuilder();
        int b;
        while ((b = Stream.ReadByte()) >= 0 && b != '\n') sb.Append((char)b);
        return sb.ToString().TrimEnd('\r');
    }

    public void Dispose() => _client.Dispose();
}
