using System.Net.Sockets;
using System.Text;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// The server binary's connection limits as an operator configures them (README, spec 2.6
/// POLICY: idle connections are closed only under connection pressure, longest idle first):
/// [server] max_connections across every listener, and max_connections=N after a listener.
/// Before, [server] max_connections refused every new connection at the limit and kept the
/// idle ones, and a listener option was a configuration error.
/// </summary>
[TestFixture, Category("Interop")]
public sealed class ConnectionLimitServerTests
{
    private static TcpClient Client(int port, string request, string reply)
    {
        var c = new TcpClient("127.0.0.1", port) { NoDelay = true };
        c.GetStream().Write(Encoding.ASCII.GetBytes(request));
        Assert.That(Read(c, reply.Length), Is.EqualTo(reply));
        Thread.Sleep(50); // distinct idle start times
        return c;
    }

    private static string Read(TcpClient c, int count)
    {
        c.ReceiveTimeout = 5000;
        var buf = new byte[count];
        int got = 0;
        try
        {
            while (got < count)
            {
                int n = c.GetStream().Read(buf, got, count - got);
                if (n == 0) break;
                got += n;
            }
        }
        catch (IOException) { }
        return Encoding.ASCII.GetString(buf, 0, got);
    }

    private static bool ClosedByServer(TcpClient c) => Read(c, 1).Length == 0;

    private const string Sm = "18:a user@example.com,", SmFound = "20:OK alice@example.org,";
    private const string Tcp = "get user@example.com\n", TcpFound = "200 alice@example.org\n";

    /// <summary>Starts the server and waits for its "ready" line (a port probe would take a place).</summary>
    private static ServerProcess Ready(string ini)
    {
        var server = ServerProcess.Start("--config", ini);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!server.Stderr.Contains("ready"))
        {
            if (server.HasExited || DateTime.UtcNow > deadline) Assert.Fail($"server not ready: {server.Stderr}");
            Thread.Sleep(20);
        }
        return server;
    }

    private static (MemcachedProcess, TempDir) Setup()
    {
        var mc = MemcachedProcess.Start();
        var d = new TempDir();
        d.File("a.cf", $"memcache = {mc.Endpoint}\nbackup = inline:{{user@example.com=alice@example.org}}\n");
        return (mc, d);
    }

    [Test]
    public void Spec2_6_ServerMaxConnections_ClosesTheLongestIdleOfAnyListener()
    {
        var (mc, d) = Setup();
        using var _ = mc;
        using var __ = d;
        int sm = FreePort.Next(), tcp = FreePort.Next();
        var ini = d.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{sm}\nmax_connections = 2\n[maps:a]\nconfig = a.cf\ntcp = inet:127.0.0.1:{tcp}\n");
        using var server = Ready(ini);
        Assert.That(server.Stderr, Does.Contain("connection limit 2"), server.Stderr);

        using var tcpIdle = Client(tcp, Tcp, TcpFound);
        using var smIdle = Client(sm, Sm, SmFound);
        using var fresh = Client(sm, Sm, SmFound);
        Assert.That(ClosedByServer(tcpIdle), Is.True, "the longest idle connection, on the other listener, made room");
        using var again = Client(sm, Sm, SmFound);
        Assert.That(ClosedByServer(smIdle), Is.True, "then the next longest idle");
        Assert.That(server.Stderr, Does.Contain("connection limit reached"), "logged");
    }

    [Test]
    public void Spec2_6_ListenerMaxConnections_OnlyThatListener()
    {
        var (mc, d) = Setup();
        using var _ = mc;
        using var __ = d;
        int sm = FreePort.Next(), tcp = FreePort.Next();
        var ini = d.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{sm} max_connections=1\n[maps:a]\nconfig = a.cf\ntcp = inet:127.0.0.1:{tcp}\n");
        using var server = Ready(ini);

        using var tcpIdle = Client(tcp, Tcp, TcpFound);
        using var sm1 = Client(sm, Sm, SmFound);
        using var sm2 = Client(sm, Sm, SmFound);
        Assert.That(ClosedByServer(sm1), Is.True, "the socketmap listener holds one connection");
        using var tcp2 = Client(tcp, Tcp, TcpFound);
        tcpIdle.GetStream().Write(Encoding.ASCII.GetBytes(Tcp));
        Assert.That(Read(tcpIdle, TcpFound.Length), Is.EqualTo(TcpFound), "the tcp listener is not limited");
    }
}
