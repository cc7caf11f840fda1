using System.Net.Sockets;
using System.Text;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Deployment;

/// <summary>
/// Why the service unit may have ProtectProc=invisible: Microsoft.Extensions.Hosting.Systemd
/// (10.0) sends sd_notify messages only when it finds its parent's /proc/PPID/comm to be
/// "systemd", which hidepid=invisible hides; the server then sends them itself. Reproduced
/// without systemd: a private PID namespace whose PID 1 is a script named
/// "systemd" mounts /proc with hidepid=0 (the unit's setting) or hidepid=invisible
/// (ProtectProc=invisible), starts the published binary as nobody with NOTIFY_SOCKET pointing at
/// this test, sends SIGHUP, then SIGTERM. Needs root (namespaces, mount, setpriv).
/// </summary>
[TestFixture, Category("Package")]
public class NotifyDetectionTests
{
    private const string Pid1 = """
        #!/bin/sh
        # PID 1 of a private PID namespace; its name ("systemd") is what the server checks.
        mount -t proc -o "hidepid=$1" proc /proc || exit 70
        NOTIFY_SOCKET="$2" setpriv --reuid=nobody --regid=nogroup --clear-groups "$3" --config "$4" 2>"$5" & srv=$!
        sleep 3; kill -HUP $srv; sleep 1; kill -TERM $srv; wait $srv
        """;

    [TestCase("0", new[] { "READY=1", "RELOADING=1", "READY=1", "STOPPING=1" }, TestName = "TypeNotify_Pid1Visible_ReadyReloadingStoppingSent")]
    [TestCase("invisible", new[] { "READY=1", "RELOADING=1", "READY=1", "STOPPING=1" }, TestName = "TypeNotify_ProtectProcInvisible_ReadyReloadingStoppingSent")]
    public void NotifyMessages_DependOnPid1Visibility(string hidepid, string[] expected)
    {
        string published = Path.Combine(Repo.Root(), ".artifacts", "publish", "tcptableserver");
        if (!File.Exists(published)) Assert.Ignore("no published binary: run scripts/publish");
        if (Environment.UserName != "root" || Tool.Find("unshare") is null || Tool.Find("setpriv") is null)
            Assert.Ignore("needs root, unshare and setpriv");

        using var dir = new TempDir();
        Assert.That(Tool.Run("chmod", ["0755", dir.Path]).ExitCode, Is.Zero);
        string bin = dir["tcptableserver"];
        File.Copy(published, bin);
        File.Copy(Path.Combine(Repo.Config, "aliases"), dir["aliases"]);
        dir.File("aliases.cf", "memcache = inet:127.0.0.1:1\nbackup = texthash:aliases\n");
        string ini = dir.File("t.ini", $"[server]\nsocketmap = inet:127.0.0.1:{FreePort.Next()}\n\n[maps:aliases]\nconfig = aliases.cf\n");
        string pid1 = dir.File("systemd", Pid1.ReplaceLineEndings("\n") + "\n");
        Assert.That(Tool.Run("chmod", ["0755", pid1, bin]).ExitCode, Is.Zero);
        Assert.That(Tool.Run("chmod", ["0644", ini, dir["aliases"], dir["aliases.cf"]]).ExitCode, Is.Zero);

        using var notify = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        notify.Bind(new UnixDomainSocketEndPoint(dir["notify"]));
        Assert.That(Tool.Run("chmod", ["0777", dir["notify"]]).ExitCode, Is.Zero);

        var run = Tool.Run("unshare", ["--pid", "--mount", "--fork", pid1, hidepid, dir["notify"], bin, ini, dir["server.log"]], timeoutSeconds: 60);

        string log = File.Exists(dir["server.log"]) ? File.ReadAllText(dir["server.log"]) : "";
        Assert.That(run.ExitCode, Is.Zero, $"{run}\nserver:\n{log}");
        Assert.That(log, Does.Contain("TcpTableServer: ready"), "the server served in both cases");
        var states = new List<string>();
        var buffer = new byte[4096];
        while (notify.Available > 0)
            states.Add(Encoding.UTF8.GetString(buffer, 0, notify.Receive(buffer)).Split('\n')[0]);
        Assert.That(states, Is.EqualTo(expected), log);
    }
}
