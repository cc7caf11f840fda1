using System.Diagnostics;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// journald: when standard error is the journal stream that systemd announces in
/// JOURNAL_STREAM, every line starts with its syslog priority ("&lt;4&gt;" for a warning), so
/// `journalctl -p warning` works; run by hand the lines stay unprefixed. The journal's
/// stream is stood in for by the pipe the test reads (JOURNAL_STREAM names its inode, as
/// systemd names its socket's).
/// </summary>
[TestFixture, Category("Interop")]
public sealed class JournalPriorityTests
{
    /// <summary>
    /// Runs `check` on a config that logs one warning (unknown .cf parameter), or the server on
    /// one it refuses (missing .cf: a fatal error, exit 78).
    /// </summary>
    private static string Run(string journalStream, bool fatal)
    {
        using var d = new TempDir();
        d.File("a.cf", "memcache = inet:127.0.0.1:11211\nno_such_parameter = 1\n");
        string cf = fatal ? "missing.cf" : "a.cf";
        string ini = d.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{FreePort.Next()}\n[maps:a]\nconfig = {cf}\n");
        var psi = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add($"export JOURNAL_STREAM={journalStream}; exec dotnet \"$0\" {(fatal ? "" : "check")} --config \"$1\"");
        psi.ArgumentList.Add(ServerProcess.ServerDll);
        psi.ArgumentList.Add(ini);
        psi.Environment.Remove("JOURNAL_STREAM");
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return err;
    }

    private const string ThisPipe = "0:$(stat -L -c %i /proc/self/fd/2)";

    [Test]
    public void Under_the_journal_a_warning_carries_priority_4_and_a_fatal_error_priority_2()
    {
        string warn = Run(ThisPipe, fatal: false);
        Assert.That(warn, Does.Match(@"(?m)^<4>warn: .*no_such_parameter"), warn);
        string fatal = Run(ThisPipe, fatal: true);
        Assert.That(fatal, Does.Match(@"(?m)^<2>.*fatal: .*missing\.cf"), fatal);
    }

    /// <summary>
    /// One server run under the journal, logging at debug level (the shipped nlog.config beside
    /// the INI with minlevel Debug): "ready" is &lt;6&gt;, the key of a memcached warning (memcached
    /// down; keys appear only at debug level) &lt;7&gt;, the warning &lt;4&gt;, a failed reload &lt;3&gt;, and
    /// every line of its output carries a priority (journalctl -p would file an unprefixed line
    /// under the unit's default, info).
    /// </summary>
    [Test]
    public void Under_the_journal_info_debug_warning_and_error_lines_carry_6_7_4_and_3_and_every_line_one()
    {
        using var d = new TempDir();
        int sm = FreePort.Next(), down = FreePort.Next();   // nothing listens on "down": memcached is down
        d.File("a.cf", $"memcache = inet:127.0.0.1:{down}\nbackup = inline:{{ {{k = v}} }}\n");
        string ini = d.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{sm}\n[maps:a]\nconfig = a.cf\n");
        string shipped = File.ReadAllText(Path.Combine(Repo.Config, "nlog.config"));
        Assert.That(shipped, Does.Contain("minlevel=\"Info\" writeTo=\"stderr\""));
        d.File("nlog.config", shipped.Replace("minlevel=\"Info\" writeTo=\"stderr\"", "minlevel=\"Debug\" writeTo=\"stderr\""));

        string err;
        using (var server = ServerProcess.StartProgram("bash", "-c",
                   $"export JOURNAL_STREAM={ThisPipe}; exec dotnet \"$0\" --config \"$1\"", ServerProcess.ServerDll, ini))
        {
            Assert.That(server.WaitForOutput("ready"), Is.True, server.Stderr);
            using (var c = new TcpLineClient(sm))
                Assert.That(c.Raw("3:a k,", 7), Is.EqualTo("4:OK v,"), "answered from the backup");
            Assert.That(server.WaitForOutput("key \"k\""), Is.True, server.Stderr);
            File.WriteAllText(ini, "[server]\nsocketmap = nowhere\n");
            server.Hangup();
            Assert.That(server.WaitForOutput("reload failed"), Is.True, server.Stderr);
            Assert.That(server.Terminate(), Is.EqualTo(0));
            err = server.Stderr;
        }
        Assert.That(err, Does.Match(@"(?m)^<6>info: TcpTableServer: ready$"), err);
        Assert.That(err, Does.Match(@"(?m)^<7>debug: .*key ""k""$"), err);
        Assert.That(err, Does.Match(@"(?m)^<4>warn: .*connect to 127\.0\.0\.1:" + down), err);
        Assert.That(err, Does.Match(@"(?m)^<3>error: .*reload failed: .*server\.ini:2"), err);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToList();
        Assert.That(lines, Has.Count.GreaterThan(5));
        Assert.That(lines.Where(l => !System.Text.RegularExpressions.Regex.IsMatch(l, "^<[0-7]>")), Is.Empty, "every line has a priority");
    }

    [Test]
    public void Run_by_hand_or_with_a_stale_JOURNAL_STREAM_lines_have_no_prefix()
    {
        foreach (string stream in new[] { "", "0:1" })
        {
            string warn = Run(stream, fatal: false);
            Assert.That(warn, Does.Match(@"(?m)^warn: .*no_such_parameter"), warn);
            Assert.That(warn, Does.Not.Contain("<4>"));
        }
    }
}
