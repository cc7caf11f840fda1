using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Deployment;

/// <summary>
/// The .deb on this machine: scripts/package builds it, `dpkg -i` installs it (no running
/// systemd here: postinst's systemctl calls must not fail the install), then the INSTALLED
/// binary serves the way tcptableserver.socket starts it: systemd-socket-activate binds the
/// unit's ListenStream= addresses and execs it as the user postinst created, with a private
/// memcached; real Postfix `postmap -q` queries it over socketmap: and tcp:. Then `dpkg -r`
/// (conffiles stay) and `dpkg --purge` (nothing stays). Needs root and the published binary.
/// Runs one at a time per machine (a lock file): dpkg and the package name are machine-wide.
/// Refuses to touch a tcptableserver package that was installed before it ran.
/// </summary>
[TestFixture, Category("Package"), NonParallelizable]
public class InstallTests
{
    private const string Package = "tcptableserver";
    private const string User = "tcptableserver";
    private const string LockFile = "/run/lock/tcptableserver-install-test.lock";
    private const string StateDir = "/var/lib/tcptableserver";
    private const string WantsLink = "/etc/systemd/system/multi-user.target.wants/tcptableserver.service";

    private static readonly string[] Installed =
    [
        "/usr/sbin/tcptableserver", "/usr/lib/systemd/system/tcptableserver.service", "/usr/lib/systemd/system/tcptableserver.socket",
        "/usr/lib/sysusers.d/tcptableserver.conf", "/usr/share/man/man8/tcptableserver.8.gz", "/usr/share/man/man5/tcptable.ini.5.gz",
        "/usr/share/doc/tcptableserver/copyright",
    ];

    private static readonly Dictionary<string, string> Noninteractive = new() { ["DEBIAN_FRONTEND"] = "noninteractive" };

    [Test]
    public void DpkgInstall_ServesPostmapThroughTheSocketUnit_RemoveKeepsConffiles_PurgeLeavesNothing()
    {
        string published = Path.Combine(Repo.Root(), ".artifacts", "publish", "tcptableserver");
        if (!File.Exists(published)) Assert.Ignore("no published binary: run scripts/publish");
        if (Environment.UserName != "root") Assert.Ignore("needs root (dpkg -i)");
        foreach (var tool in new[] { "dpkg", "dpkg-shlibdeps", "systemd-socket-activate", "setpriv", "memcached", "userdel", "groupdel" })
            if (Tool.Find(tool) is null) Assert.Ignore($"{tool} is missing (scripts/install-deps --package)");
        if (!Postfix.Installed) Assert.Ignore("Postfix is missing (scripts/install-deps)");

        using var machineLock = AcquireLock(TimeSpan.FromMinutes(10));
        if (PackageStatus() is { Length: > 0 } before)
            Assert.Ignore($"{Package} is already on this machine ({before}): not touching it");
        bool userExisted = UserExists(), groupExisted = GroupExists(), stateExisted = Directory.Exists(StateDir);

        using var dir = new TempDir();
        Assert.That(Tool.Run("chmod", ["0755", dir.Path]).ExitCode, Is.Zero);
        var build = Tool.Run(Path.Combine(Repo.Root(), "scripts", "package"), ["--version", "0.0.1+installtest", "--out", dir["pkg"]], timeoutSeconds: 300);
        Assert.That(build.ExitCode, Is.Zero, build.ToString());
        string deb = dir["pkg/tcptableserver_0.0.1+installtest_amd64.deb"];

        Process? server = null;
        var serverLog = new StringBuilder();
        MemcachedProcess? memcached = null;
        try
        {
            TestContext.Out.WriteLine(Directory.Exists("/run/systemd/system")
                ? "systemd runs: postinst starts the service too" : "no running systemd: postinst only enables the service");
            var install = Tool.Run("dpkg", ["-i", deb], timeoutSeconds: 300, environment: Noninteractive);
            Assert.That(install.ExitCode, Is.Zero, $"without a running systemd the install must still succeed:\n{install}");
            Assert.That(PackageStatus(), Is.EqualTo("install ok installed"));
            foreach (var path in Installed) Assert.That(File.Exists(path), path);
            Assert.That(File.Exists("/usr/bin/tcptableserver"), Is.False, "a daemon lives in /usr/sbin");
            Assert.That(UserExists(), "postinst creates the user (systemd-sysusers)");
            if (Tool.Find("man") is not null)
            {
                Assert.That(Tool.Run("man", ["-w", "8", "tcptableserver"]).Stdout.Trim(), Is.EqualTo("/usr/share/man/man8/tcptableserver.8.gz"));
                Assert.That(Tool.Run("man", ["-w", "5", "tcptable.ini"]).Stdout.Trim(), Is.EqualTo("/usr/share/man/man5/tcptable.ini.5.gz"));
                foreach (var page in new[] { "/usr/share/man/man8/tcptableserver.8.gz", "/usr/share/man/man5/tcptable.ini.5.gz" })
                {
                    var shown = Tool.Run("man", ["--warnings=all", "-l", page], environment: new Dictionary<string, string> { ["MANWIDTH"] = "80", ["MANPAGER"] = "cat" });
                    Assert.That(shown.ExitCode, Is.Zero, shown.ToString());
                    Assert.That(shown.Stderr, Is.Empty, $"groff warnings in {page}");
                    Assert.That(shown.Stdout, Does.Contain("SEE ALSO"), page);
                }
            }
            Assert.That(File.ResolveLinkTarget(WantsLink, false)?.FullName, Does.EndWith("/systemd/system/tcptableserver.service"),
                "postinst enables the service (deb-systemd-helper) even without a running systemd");

            // The socket unit's addresses; a port taken on this machine is replaced by a free
            // one, in the socket list and in a copy of the installed INI alike.
            var listen = File.ReadLines("/usr/lib/systemd/system/tcptableserver.socket")
                .Where(l => l.StartsWith("ListenStream=", StringComparison.Ordinal)).Select(l => l["ListenStream=".Length..]).ToArray();
            Assert.That(listen, Has.Length.EqualTo(2), "socketmap and tcp listeners");
            var addresses = listen.ToDictionary(a => a, a => IsFree(a) ? a : $"127.0.0.1:{FreePort.Next()}");
            TestContext.Out.WriteLine($"listeners: {string.Join(", ", addresses.Select(kv => $"{kv.Key} -> {kv.Value}"))}");

            memcached = MemcachedProcess.Start();
            string ini = File.ReadAllText("/etc/tcptableserver/tcptable.ini");
            foreach (var (shipped, used) in addresses)
                ini = ini.Replace($"inet:{shipped}", $"inet:{used}", StringComparison.Ordinal);
            // The installed .cf and its texthash backup, with this test's memcached (an INI map
            // parameter overrides the .cf).
            ini = ini.Replace("config = aliases.cf", $"config = /etc/tcptableserver/aliases.cf\nmemcache = {memcached.Endpoint}", StringComparison.Ordinal);
            Assert.That(ini, Does.Contain(memcached.Endpoint), "the shipped INI names config = aliases.cf");
            string iniPath = dir.File("tcptable.ini", ini);
            Assert.That(Tool.Run("chmod", ["0644", iniPath]).ExitCode, Is.Zero);

            string[] asUser = ["setpriv", $"--reuid={User}", $"--regid={User}", "--init-groups"];
            var check = Tool.Run(asUser[0], [.. asUser[1..], "/usr/sbin/tcptableserver", "--config", iniPath, "check"]);
            Assert.That(check.ExitCode, Is.Zero, check.ToString());

            // As systemd does for the socket unit: bind, then exec the service on the first
            // connection with LISTEN_FDS (the server matches the sockets by address).
            var psi = new ProcessStartInfo("systemd-socket-activate")
            {
                RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false,
            };
            foreach (var used in addresses.Values) { psi.ArgumentList.Add("-l"); psi.ArgumentList.Add(used); }
            foreach (var a in asUser) psi.ArgumentList.Add(a);
            foreach (var a in new[] { "/usr/sbin/tcptableserver", "--config", iniPath }) psi.ArgumentList.Add(a);
            server = Process.Start(psi)!;
            server.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (serverLog) serverLog.AppendLine(e.Data); };
            server.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (serverLog) serverLog.AppendLine(e.Data); };
            server.BeginErrorReadLine();
            server.BeginOutputReadLine();
            Assert.That(() => addresses.Values.All(a => !IsFree(a)), Is.True.After(30_000, 50), "timed out: systemd-socket-activate binds the listeners");

            var postfix = new Postfix(dir.Path);
            string socketmap = addresses[listen.Single(a => a.EndsWith(":9000", StringComparison.Ordinal))];
            string tcp = addresses[listen.Single(a => a.EndsWith(":9001", StringComparison.Ordinal))];
            var first = postfix.Query("user@example.com", $"socketmap:inet:{socketmap}:aliases");
            Assert.That(first.ExitCode, Is.Zero, $"{first.Stderr}\nserver:\n{Log(serverLog)}");
            Assert.That(first.Stdout, Is.EqualTo("alice@example.org\n"));
            Assert.That(postfix.Value("postmaster@example.com", $"tcp:{tcp}"), Is.EqualTo("root@example.org"));
            Assert.That(postfix.Query("nobody@example.com", $"socketmap:inet:{socketmap}:aliases").ExitCode, Is.EqualTo(1));
            Assert.That(postfix.Query("nobody@example.com", $"tcp:{tcp}").ExitCode, Is.EqualTo(1));
            Assert.That(memcached.Get("aliases:user@example.com")?.Value, Is.EqualTo("alice@example.org"), "the backup answer was written back");

            Assert.That(UidOf(server.Id), Is.EqualTo(Tool.Run("id", ["-u", User]).Stdout.Trim()), "the server runs as the package's user");
            Assert.That(Log(serverLog), Does.Contain("ready"));
            Assert.That(Tool.Run("kill", ["-TERM", server.Id.ToString()]).ExitCode, Is.Zero);
            Assert.That(server.WaitForExit(30_000), "SIGTERM stops the server");
            Assert.That(server.ExitCode, Is.Zero, Log(serverLog));

            var remove = Tool.Run("dpkg", ["-r", Package], timeoutSeconds: 300, environment: Noninteractive);
            Assert.That(remove.ExitCode, Is.Zero, remove.ToString());
            Assert.That(PackageStatus(), Is.EqualTo("deinstall ok config-files"));
            foreach (var path in Installed) Assert.That(File.Exists(path), Is.False, $"dpkg -r removes {path}");
            foreach (var conffile in new[] { "tcptable.ini", "aliases.cf", "aliases", "nlog.config" })
                Assert.That(File.Exists($"/etc/tcptableserver/{conffile}"), $"dpkg -r keeps the conffile {conffile}");

            var purge = Tool.Run("dpkg", ["--purge", Package], timeoutSeconds: 300, environment: Noninteractive);
            Assert.That(purge.ExitCode, Is.Zero, purge.ToString());
            Assert.That(PackageStatus(), Is.Empty);
            Assert.That(Directory.Exists("/etc/tcptableserver"), Is.False, "purge removes the conffiles and their folder");
            Assert.That(Tool.Run("test", ["-L", WantsLink]).ExitCode, Is.Not.Zero, "purge removes the enablement symlink");
            Assert.That(Directory.Exists("/var/lib/systemd/deb-systemd-helper-enabled/tcptableserver.service.dsh-also"), Is.False);
        }
        finally
        {
            if (server is { HasExited: false }) { server.Kill(entireProcessTree: true); server.WaitForExit(10_000); }
            server?.Dispose();
            memcached?.Dispose();
            if (PackageStatus().Length > 0) Tool.Run("dpkg", ["--purge", Package], timeoutSeconds: 300, environment: Noninteractive);
            // postrm keeps the user and /var/lib/tcptableserver on purge (as usual for system
            // users); what this test created goes.
            if (!userExisted && UserExists()) Tool.Run("userdel", [User]);
            if (!groupExisted && GroupExists()) Tool.Run("groupdel", [User]);
            if (!stateExisted && Directory.Exists(StateDir)) Directory.Delete(StateDir, recursive: true);
        }
    }

    /// <summary>dpkg's status of the package ("install ok installed", "deinstall ok config-files"), or "" when dpkg does not know it.</summary>
    private static string PackageStatus()
    {
        var r = Tool.Run("dpkg-query", ["-W", "-f=${Status}", Package]);
        return r.ExitCode == 0 && !r.Stdout.EndsWith("not-installed", StringComparison.Ordinal) ? r.Stdout.Trim() : "";
    }

    private static bool UserExists() => Tool.Run("getent", ["passwd", User]).ExitCode == 0;

    private static bool GroupExists() => Tool.Run("getent", ["group", User]).ExitCode == 0;

    private static bool IsFree(string address)
    {
        int colon = address.LastIndexOf(':');
        try
        {
            using var l = new TcpListener(IPAddress.Parse(address[..colon]), int.Parse(address[(colon + 1)..]));
            l.Start();
            return true;
        }
        catch (SocketException) { return false; }
    }

    private static string UidOf(int pid) =>
        Regex.Match(File.ReadAllText($"/proc/{pid}/status"), @"(?m)^Uid:\s+(\d+)").Groups[1].Value;

    private static string Log(StringBuilder log) { lock (log) return log.ToString(); }

    /// <summary>An exclusive lock on a machine-wide file (flock through FileShare.None), waited for.</summary>
    private static FileStream AcquireLock(TimeSpan wait)
    {
        var deadline = DateTime.UtcNow + wait;
        Directory.CreateDirectory(Path.GetDirectoryName(LockFile)!);
        while (true)
        {
            try
            {
                return new FileStream(LockFile, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(500);
            }
        }
    }
}
