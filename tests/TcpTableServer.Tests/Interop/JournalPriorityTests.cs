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
