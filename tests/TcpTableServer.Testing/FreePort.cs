using System.Net;
using System.Net.Sockets;

namespace TcpTableServer.Tests.Support;

/// <summary>Free loopback TCP ports for test servers (never fixed ports that clash).</summary>
public static class FreePort
{
    /// <summary>
    /// A port that is free now, chosen at random below Linux's ephemeral range (32768-60999):
    /// a port the kernel picked from that range is the range every outgoing connection takes
    /// its local port from, so between the pick and the server's bind a client connection
    /// (of this test run or another one on the machine) could take it. Never the same port
    /// twice in one process.
    /// </summary>
    public static int Next()
    {
        for (int attempt = 0; attempt < 1000; attempt++)
        {
            int port = Random.Shared.Next(20000, 32768);
            lock (Given)
                if (!Given.Add(port)) continue;
            try
            {
                using var l = new TcpListener(IPAddress.Loopback, port);
                l.Start();
                return port;
            }
            catch (SocketException) { }
        }
        using var any = new TcpListener(IPAddress.Loopback, 0);
        any.Start();
        return ((IPEndPoint)any.LocalEndpoint).Port;
    }

    private static readonly HashSet<int> Given = [];

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
