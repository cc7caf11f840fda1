using System.Globalization;
using System.Text.RegularExpressions;
using TcpTableServer.Config;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Deployment;

/// <summary>
/// packaging/systemd: systemd 252's own checks accept both units without a warning, the
/// service's sandbox rates "OK" (exposure 2.0 or lower) in `systemd-analyze security`, and the
/// socket unit listens exactly where the shipped tcptable.ini does. No running systemd needed.
/// </summary>
[TestFixture, Category("Deployment")]
public class SystemdUnitTests
{
    private static string Units => Path.Combine(Repo.Root(), "packaging", "systemd");

    private static string Analyze()
    {
        var tool = Tool.Find("systemd-analyze");
        if (tool is null) Assert.Ignore("systemd-analyze is missing (Debian package systemd)");
        return tool!;
    }

    [Test]
    public void Verify_AcceptsServiceAndSocket_WithoutWarnings()
    {
        string analyze = Analyze();
        using var root = new TempDir();
        // verify needs the units' dependencies (sysinit.target, ...) and ExecStart/ExecReload
        // binaries under --root: the host's unit directory, the units, and stand-in programs.
        string unitDir = Path.Combine(root.Path, "usr/lib/systemd/system");
        CopyTree("/usr/lib/systemd/system", unitDir);
        foreach (var unit in new[] { "tcptableserver.service", "tcptableserver.socket" })
            File.Copy(Path.Combine(Units, unit), Path.Combine(unitDir, unit), overwrite: true);
        foreach (var program in new[] { "usr/sbin/tcptableserver", "bin/kill" })
        {
            string path = Path.Combine(root.Path, program);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.Copy("/bin/true", path);
        }

        var r = Tool.Run(analyze, ["verify", $"--root={root.Path}", "tcptableserver.service", "tcptableserver.socket"]);

        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stderr + r.Stdout, Is.Empty, "verify warns about unknown keys and bad values on stderr with exit 0");
    }

    [Test]
    public void SecurityExposure_IsOk_AtMost2()
    {
        string analyze = Analyze();

        var r = Tool.Run(analyze, ["security", "--offline=yes", "--no-pager", Path.Combine(Units, "tcptableserver.service")]);

        var m = Regex.Match(r.Stdout, @"Overall exposure level for tcptableserver\.service: (\d+\.\d) (\w+)");
        Assert.That(m.Success, r.ToString());
        double exposure = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        TestContext.Out.WriteLine(m.Value);
        Assert.That(exposure, Is.LessThanOrEqualTo(2.0), m.Value);
        Assert.That(m.Groups[2].Value, Is.EqualTo("OK"));
    }

    [Test]
    public void Socket_ListensOnTheShippedIniListeners()
    {
        var def = ServerConfigLoader.Load(Path.Combine(Repo.Config, "tcptable.ini"), new ListLogger());
        var ini = def.SocketmapListeners.Concat(def.Maps.Where(m => m.TcpListener is not null).Select(m => m.TcpListener!))
            .Select(e => $"{e.Host}:{e.Port}").Order();

        var socket = File.ReadLines(Path.Combine(Units, "tcptableserver.socket"))
            .Where(l => l.StartsWith("ListenStream=", StringComparison.Ordinal))
            .Select(l => l["ListenStream=".Length..]).Order();

        Assert.That(socket, Is.EqualTo(ini));
    }

    [Test]
    public void Service_RunsAsTheSysusersUser_WithTheInstalledPaths()
    {
        var service = File.ReadAllLines(Path.Combine(Units, "tcptableserver.service"));
        var sysusers = File.ReadAllLines(Path.Combine(Repo.Root(), "packaging", "sysusers.d", "tcptableserver.conf"))
            .Where(l => l.Length > 0 && l[0] != '#').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToArray();

        Assert.That(sysusers, Has.Exactly(1).Matches<string[]>(f => f[0] == "u" && f[1] == "tcptableserver"));
        Assert.That(service, Does.Contain("User=tcptableserver").And.Contain("Group=tcptableserver"));
        Assert.That(service, Does.Contain("ExecStart=/usr/sbin/tcptableserver --config /etc/tcptableserver/tcptable.ini"));
        Assert.That(service, Does.Contain("Type=notify"));
        // other processes hidden: the server tells NOTIFY_SOCKET itself when the hosting library
        // cannot see systemd through /proc/PPID/comm (NotifyDetectionTests)
        Assert.That(service, Does.Contain("ProtectProc=invisible"));
    }

    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var entry in new DirectoryInfo(from).EnumerateFileSystemInfos())
        {
            string target = Path.Combine(to, entry.Name);
            if (entry.LinkTarget is { } link) File.CreateSymbolicLink(target, link);
            else if (entry is DirectoryInfo) CopyTree(entry.FullName, target);
            else File.Copy(entry.FullName, target);
        }
    }
}
