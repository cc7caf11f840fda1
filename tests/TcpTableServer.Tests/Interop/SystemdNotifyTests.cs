using System.Net.Sockets;
using System.Text;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// sd_notify(3) as systemd's Type=notify sees it: the test is the service manager, listening on
/// a datagram socket named by NOTIFY_SOCKET. The server says READY=1 once its listeners are
/// bound, RELOADING=1 (with MONOTONIC_USEC, as Type=notify-reload requires) then READY=1 around
/// a SIGHUP reload, and STOPPING=1 on SIGTERM.
/// </summary>
[TestFixture, Category("Interop")]
public sealed class SystemdNotifyTests
{
    [Test]
    public void Ready_then_reloading_and_ready_around_sighup_then_stopping()
    {
        using var mc = MemcachedProcess.Start();
        using var d = new TempDir();
        string path = d["notify"];
        using var manager = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        manager.Bind(new UnixDomainSocketEndPoint(path));
        manager.ReceiveTimeout = 30000;
        int port = FreePort.Next();
        d.File("a.cf", $"memcache = {mc.Endpoint}\n");
        string ini = d.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{port}\n[maps:a]\nconfig = a.cf\n");
        using var server = ServerProcess.StartProgram("env", $"NOTIFY_SOCKET={path}", "DOTNET_NOLOGO=1", "dotnet", ServerProcess.ServerDll, "--config", ini);

        Assert.That(Next(manager), Is.EqualTo("READY=1"));
        using (var client = new TcpClient("127.0.0.1", port))
            Assert.That(client.Connected, Is.True, "READY=1 came after the bind");

        server.Hangup();
        string reloading = Next(manager);
        Assert.That(reloading, Does.StartWith("RELOADING=1\nMONOTONIC_USEC="));
        Assert.That(long.Parse(reloading.Split('=')[^1]), Is.GreaterThan(0));
        Assert.That(Next(manager), Is.EqualTo("READY=1"));

        server.Hangup();   // a second reload: the same pair again
        Assert.That(Next(manager), Does.StartWith("RELOADING=1"));
        Assert.That(Next(manager), Is.EqualTo("READY=1"));

        Assert.That(server.Terminate(), Is.EqualTo(0));
        Assert.That(Next(manager), Is.EqualTo("STOPPING=1"));
    }

    private static string Next(Socket manager)
    {
        var buf = new byte[4096];
        int n = manager.Receive(buf);
        return Encoding.ASCII.GetString(buf, 0, n).TrimEnd('\n');
    }
}
