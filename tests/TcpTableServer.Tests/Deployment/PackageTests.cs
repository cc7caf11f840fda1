using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Deployment;

/// <summary>
/// The Debian package and the published Native AOT binary under the unit's sandbox. Both need
/// .artifacts/publish/tcptableserver (scripts/publish: 1.5-4 min, too slow for every run): they
/// are skipped without it.
/// </summary>
[TestFixture, Category("Package")]
public class PackageTests
{
    private static string Published()
    {
        string bin = Path.Combine(Repo.Root(), ".artifacts", "publish", "tcptableserver");
        if (!File.Exists(bin)) Assert.Ignore("no published binary: run scripts/publish (scripts/install-deps --publish)");
        return bin;
    }

    [Test]
    public void ScriptsPackage_BuildsADebThatLintianAccepts_WithConffilesUnitsAndDepends()
    {
        Published();
        if (Tool.Find("lintian") is null || Tool.Find("dpkg-shlibdeps") is null)
            Assert.Ignore("lintian or dpkg-dev missing: scripts/install-deps --package");
        string root = Repo.Root();

        using var output = new TempDir();
        var build = Tool.Run(Path.Combine(root, "scripts", "package"), ["--version", "0.0.1+test", "--out", output.Path], timeoutSeconds: 300);

        Assert.That(build.ExitCode, Is.Zero, $"lintian errors fail scripts/package:\n{build}");
        Assert.That(build.Stdout, Does.Not.Match("(?m)^E: "));
        Assert.That(build.Stdout, Does.Not.Contain("no-manual-page"), "packaging/man is installed");
        string deb = output["tcptableserver_0.0.1+test_amd64.deb"];
        var contents = Tool.Run("dpkg-deb", ["-c", deb]).Stdout;
        foreach (var path in new[]
                 {
                     "./usr/sbin/tcptableserver", "./etc/tcptableserver/tcptable.ini", "./etc/tcptableserver/aliases.cf",
                     "./etc/tcptableserver/aliases", "./etc/tcptableserver/nlog.config",
                     "./usr/lib/systemd/system/tcptableserver.service", "./usr/lib/systemd/system/tcptableserver.socket",
                     "./usr/lib/sysusers.d/tcptableserver.conf", "./usr/share/doc/tcptableserver/copyright",
                     "./usr/share/doc/tcptableserver/changelog.gz", "./usr/share/man/man8/tcptableserver.8.gz",
                     "./usr/share/man/man5/tcptable.ini.5.gz",
                 })
            Assert.That(contents, Does.Contain($" {path}\n"), path);
        Assert.That(contents, Does.Not.Contain("./usr/bin/tcptableserver"), "a daemon: /usr/sbin (policy 9.1.1)");
        Assert.That(Tool.Run("dpkg-deb", ["-f", deb, "Depends"]).Stdout, Does.Contain("liblmdb0").And.Contain("libicu").And.Contain("libc6"));
        Assert.That(Tool.Run("dpkg-deb", ["-f", deb, "Recommends"]).Stdout.Trim(), Is.EqualTo("memcached"));

        using var control = new TempDir();
        Assert.That(Tool.Run("dpkg-deb", ["-e", deb, control.Path]).ExitCode, Is.Zero);
        Assert.That(File.ReadAllLines(control["conffiles"]), Is.EquivalentTo(new[]
        {
            "/etc/tcptableserver/aliases", "/etc/tcptableserver/aliases.cf", "/etc/tcptableserver/nlog.config", "/etc/tcptableserver/tcptable.ini",
        }));
        foreach (var script in new[] { "postinst", "prerm", "postrm" })
            Assert.That(Tool.Run("/bin/sh", ["-n", control[script]]).ExitCode, Is.Zero, script);
        Assert.That(File.ReadAllText(control["postinst"]), Does.Contain("systemd-sysusers").And.Contain("deb-systemd-helper enable 'tcptableserver.service'"));
    }

    [Test]
    public void PublishedBinary_PassesItsSmokeTest_UnderMemoryDenyWriteExecute()
    {
        string bin = Published();
        string cc = Tool.Find("cc") ?? Tool.Find("clang") ?? Tool.Find("gcc") ?? "";
        if (cc.Length == 0) Assert.Ignore("no C compiler (scripts/install-deps --publish installs clang)");
        string root = Repo.Root();
        using var dir = new TempDir();
        string mdwe = dir["mdwe-exec"];
        var compile = Tool.Run(cc, ["-O2", "-o", mdwe, Path.Combine(root, "packaging", "test", "mdwe-exec.c")]);
        Assert.That(compile.ExitCode, Is.Zero, compile.ToString());

        // The filter has teeth: the JIT runtime makes code executable at run time and dies.
        var jit = Tool.Run(mdwe, ["dotnet", "--version"]);
        Assert.That(jit.ExitCode, Is.Not.Zero, "a JIT .NET process must fail under MemoryDenyWriteExecute");

        string wrapper = dir.File("tcptableserver", $"#!/bin/sh\nexec '{mdwe}' '{bin}' \"$@\"\n");
        Assert.That(Tool.Run("chmod", ["0755", wrapper]).ExitCode, Is.Zero);
        var smoke = Tool.Run(Path.Combine(root, "scripts", "publish.d", "smoke"), [wrapper], timeoutSeconds: 120);
        Assert.That(smoke.ExitCode, Is.Zero, smoke.ToString());
        Assert.That(smoke.Stdout, Does.Contain("smoke: ok"));
    }
}
