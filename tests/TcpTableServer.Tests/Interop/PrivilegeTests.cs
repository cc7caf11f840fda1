using System.Net.Sockets;
using System.Text;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// Started as root, the server either drops to [server] user after binding its listeners
/// (as Postfix daemons do) or warns that it keeps root. Needs root (CI runs as root).
/// </summary>
[TestFixture, Category("Interop")]
public sealed class PrivilegeTests
{
    [SetUp]
    public void NeedRoot()
    {
        if (Environment.UserName != "root") Assert.Ignore("needs root");
    }

    private static (TempDir Dir, string Ini, int Port) Config(string serverLines)
    {
        var d = new TempDir();
        d.File("a.cf", $"memcache = inet:127.0.0.1:{FreePort.Closed()}\nbackup = inline:{{k=v}}\nmax_try = 1\n");
        int port = FreePort.Next();
        return (d, d.File("server.ini", $"[server]\n{serverLines}\n[maps:a]\nconfig = a.cf\ntcp = inet:127.0.0.1:{port}\n"), port);
    }

    private static string Get(int port, string key)
    {
        using var c = new TcpClient("127.0.0.1", port);
        var s = c.GetStream();
        s.Write(Encoding.ASCII.GetBytes($"get {key}\n"));
        var buf = new byte[100];
        return Encoding.ASCII.GetString(buf, 0, s.Read(buf)).Trim();
    }

    private static string UidLine(int pid) =>
        File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("Uid:"));

    [Test]
    public void With_user_it_serves_as_that_user_after_binding()
    {
        var (d, ini, port) = Config("user = nobody");
        using (d)
        using (var server = ServerProcess.Serve(ini, port))
        {
            Assert.That(Get(port, "k"), Is.EqualTo("200 v"));
            // real, effective, saved and filesystem uid all nobody's: root cannot come back
            Assert.That(UidLine(server.Pid), Does.Match(@"^Uid:\s+65534\s+65534\s+65534\s+65534$"), server.Stderr);
            Assert.That(server.Stderr, Does.Contain("running as user nobody"));
        }
    }

    [Test]
    public void Without_user_it_warns_and_keeps_root()
    {
        var (d, ini, port) = Config("");
        using (d)
        using (var server = ServerProcess.Serve(ini, port))
        {
            Assert.That(Get(port, "k"), Is.EqualTo("200 v"));
            Assert.That(server.Stderr, Does.Contain("running as root: set user = NAME in [server]"));
        }
    }

    [Test]
    public void An_unknown_user_stops_the_start()
    {
        var (d, ini, _) = Config("user = no-such-user-tcptable");
        using (d)
        using (var server = ServerProcess.Start("--config", ini))
        {
            Assert.That(server.WaitForExit(60), Is.EqualTo(78));
            Assert.That(server.Stderr, Does.Contain("user no-such-user-tcptable: not found"));
        }
    }
}
