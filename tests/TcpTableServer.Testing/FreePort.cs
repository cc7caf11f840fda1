using System.Net;
using System.Net.Sockets;

namespace TcpTableServer.Tests.Support;

/// <summary>Free loopback TCP ports for test servers (never fixed ports that clash).</summary>
public static class FreePort
{
    public static int Next()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>A port on which nothing listens (connection refused), for "memcached down" vectors.</summary>
    public static int Closed() => Next();
}
