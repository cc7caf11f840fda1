using System.Net.Sockets;
using System.Text;

namespace TcpTableServer.Tests.Support;

/// <summary>A raw client for wire-level checks: octets in, everything the server answered out.</summary>
public static class RawSocket
{
    /// <summary>
    /// Sends <paramref name="octets"/> (Latin-1 chars = bytes) to 127.0.0.1:<paramref name="port"/>,
    /// half-closes, and returns everything answered until the server closes (or the timeout).
    /// </summary>
    public static string Exchange(int port, string octets, int timeoutMs = 10000)
    {
        using var c = new TcpClient("127.0.0.1", port);
        var s = c.GetStream();
        s.Write(Encoding.Latin1.GetBytes(octets));
        c.Client.Shutdown(SocketShutdown.Send);
        s.ReadTimeout = timeoutMs;
        var buf = new MemoryStream();
        try { s.CopyTo(buf); } catch (IOException) { }
        return Encoding.Latin1.GetString(buf.ToArray());
    }
}
