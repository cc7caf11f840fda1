using System.Net.Sockets;
using System.Text;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Differential;

/// <summary>The tcp `put` extension (spec 1.8) as a status: 200 → 0 SUCCESS, 5xx → 1 FAIL, else -1 ERROR.</summary>
public static class TcpPut
{
    public static int Put(int port, string key, string value)
    {
        using var c = new TcpClient("127.0.0.1", port);
        var s = c.GetStream();
        s.Write(Encoding.Latin1.GetBytes($"put {TcpQuote.Encode(key)} {TcpQuote.Encode(value)}\n"));
        var reply = new List<byte>();
        int b;
        while ((b = s.ReadByte()) >= 0 && b != '\n') reply.Add((byte)b);
        return reply.Count >= 3 ? reply[0] switch { (byte)'2' => 0, (byte)'5' => 1, _ => -1 } : -1;
    }
}
