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

    private static readonly List<Socket> Reserved = [];

    /// <summary>
    /// A port on which nothing listens (connection refused), for "memcached down" vectors.
    /// The port stays bound, never listening, for the life of the process, so that no later
    /// <see cref="Next"/> (ours or another process's) can hand it to a listener.
    /// </summary>
    public static int Closed()
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        lock (Reserved) Reserved.Add(s);
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }
}
