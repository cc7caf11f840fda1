using System.Net.Sockets;
using System.Text;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// Start-up refuses bad configuration with file and line (spec 3.11, section 6),
/// SIGTERM stops cleanly with exit 0, and the command-line verbs use the same map code.
/// </summary>
[TestFixture, Category("Interop")]
public sealed class ServerLifecycleTests
{
    private static (int Code, string Stderr) RunToExit(params string[] args)
    {
        using var p = ServerProcess.Start(args);
        int code = p.WaitForExit(60);
        return (code, p.Stderr + p.Stdout);
    }

    private static string Ini(TempDir d, string maps) =>
        d.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{FreePort.Next()}\n\n{maps}");

    [Test]
    public void Spec3_11_BadCfInteger_ExitsWithConfigError_NamingFileAndLine()
    {
        using var d = new TempDir();
        d.File("bad.cf", "memcache = inet:127.0.0.1:11211\n# comment\nttl = 60 # one hour\n");
        var (code, err) = RunToExit("--config", Ini(d, "[maps:bad]\nconfig = bad.cf\n"));
        Assert.That(code, Is.EqualTo(78), err);
        Assert.That(err, Does.Contain("bad.cf:3"));
        Assert.That(err, Does.Contain("ttl"));
    }

    [Test]
    public void Spec6_3_CfLineWithoutEquals_ExitsWithConfigError_NamingFileAndLine()
    {
        using var d = new TempDir();
        d.File("bad.cf", "memcache = inet:127.0.0.1:11211\nttl 5\n");
        var (code, err) = RunToExit("--config", Ini(d, "[maps:bad]\nconfig = bad.cf\n"));
        Assert.That(code, Is.EqualTo(78), err);
        Assert.That(err, Does.Contain("bad.cf:2"));
    }

    [Test]
    public void Spec4_1_InvalidKeyFormat_RefusesToStart()
    {
        using var d = new TempDir();
        d.File("bad.cf", "key_format = abc%x\n");
        var (code, err) = RunToExit("--config", Ini(d, "[maps:bad]\nconfig = bad.cf\n"));
        Assert.That(code, Is.EqualTo(78), err);
        Assert.That(err, Does.Contain("bad.cf:1"));
    }

    [Test]
    public void BadIni_ExitsWithConfigError_NamingFileAndLine()
    {
        using var d = new TempDir();
        var ini = d.File("server.ini", "[server]\nsocketmap = inet:127.0.0.1:9\n[maps:a]\nbogus_option = 1\n");
        var (code, err) = RunToExit("--config", ini);
        Assert.That(code, Is.EqualTo(78), err);
        Assert.That(err, Does.Contain("server.ini:4"));
    }

    [Test]
    public void MissingIni_ExitsWithConfigError()
    {
        var (code, err) = RunToExit("--config", "/nonexistent/tcptable.ini");
        Assert.That(code, Is.EqualTo(78), err);
        Assert.That(err, Does.Contain("/nonexistent/tcptable.ini"));
    }

    [Test]
    public void Sigterm_AnswersAndExitsZero()
    {
        using var mc = MemcachedProcess.Start();
        using var d = new TempDir();
        int port = FreePort.Next();
        d.File("a.cf", $"memcache = {mc.Endpoint}\n");
        var ini = d.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{port}\n[maps:a]\nconfig = a.cf\n");
        mc.Set("k", "v");
        using var server = ServerProcess.Serve(ini, port);
        using (var c = new TcpClient("127.0.0.1", port))
        {
            var s = c.GetStream();
            s.Write("3:a k,"u8);
            var buf = new byte[64];
            int n = s.Read(buf);
            Assert.That(Encoding.ASCII.GetString(buf, 0, n), Is.EqualTo("4:OK v,"));
        }
        Assert.That(server.Terminate(), Is.EqualTo(0), server.Stderr);
    }

    [Test]
    public void Cli_QueryPutDeleteSequence_ExitCodes()
    {
        using var mc = MemcachedProcess.Start();
        using var d = new TempDir();
        d.File("backup", "seed@example.com seeded\n");
        d.File("a.cf", $"memcache = {mc.Endpoint}\nkey_format = a:%s\n");
        d.File("b.cf", $"memcache = {mc.Endpoint}\nkey_format = b:%s\nbackup = texthash:backup\n");
        var ini = Ini(d, "[maps:a]\nconfig = a.cf\n[maps:b]\nconfig = b.cf\n");

        Assert.That(RunToExit("--config", ini, "query", "a", "x@example.com").Code, Is.EqualTo(1), "not found");
        Assert.That(RunToExit("--config", ini, "put", "a", "X@Example.com", "val").Code, Is.EqualTo(0), "V74 update");
        Assert.That(mc.Get("a:x@example.com"), Is.EqualTo(("val", 0)));
        using (var q = ServerProcess.Start("--config", ini, "query", "a", "x@EXAMPLE.com"))
        {
            Assert.That(q.WaitForExit(), Is.EqualTo(0));
            Assert.That(q.Stdout, Is.EqualTo("val\n"));
        }
        Assert.That(RunToExit("--config", ini, "delete", "a", "x@example.com").Code, Is.EqualTo(0), "V79 deleted");
        Assert.That(RunToExit("--config", ini, "delete", "a", "x@example.com").Code, Is.EqualTo(1), "V79 not found");
        Assert.That(RunToExit("--config", ini, "sequence", "a").Code, Is.EqualTo(1), "3.7: no backup, no sequence");
        using (var s = ServerProcess.Start("--config", ini, "sequence", "b"))
        {
            Assert.That(s.WaitForExit(), Is.EqualTo(0));
            Assert.That(s.Stdout, Does.Contain("seed@example.com\tseeded"));
        }
        Assert.That(RunToExit("--config", ini, "query", "nosuchmap", "k").Code, Is.EqualTo(78));
    }

    [Test]
    public void Cli_MemcachedDown_TemporaryFailureExit75()
    {
        using var d = new TempDir();
        d.File("a.cf", $"memcache = inet:127.0.0.1:{FreePort.Closed()}\n");
        var ini = Ini(d, "[maps:a]\nconfig = a.cf\n");
        Assert.That(RunToExit("--config", ini, "query", "a", "k").Code, Is.EqualTo(75), "V17");
    }

    [Test]
    public void Check_warns_when_two_maps_sharing_a_memcached_can_produce_the_same_key()
    {
        // Through a shared memcached, map b's tcp put rewrote map a's answer: both used key_format %s.
        using var d = new TempDir();
        d.File("a.cf", "memcache = inet:127.0.0.1:11211\n");
        d.File("b.cf", "memcache = inet:127.0.0.1:11211\nkey_format = b:%s\n");
        d.File("c.cf", "memcache = inet:127.0.0.1:11211\nkey_format = c:%s\n");
        var (code, output) = RunToExit("--config", Ini(d, "[maps:a]\nconfig = a.cf\n[maps:b]\nconfig = b.cf\n[maps:c]\nconfig = c.cf\n"), "check");
        Assert.That(code, Is.EqualTo(0), output);
        Assert.That(output, Does.Contain("warning: maps a and b share memcached inet:127.0.0.1:11211 and can produce the same memcached key"));
        Assert.That(output, Does.Contain("warning: maps a and c"), "\"%s\" can produce \"c:x\"");
        Assert.That(output, Does.Not.Contain("maps b and c"), "distinct prefixes");
    }

    [Test]
    public void Check_is_silent_for_maps_with_distinct_prefixes_or_memcacheds()
    {
        using var d = new TempDir();
        d.File("a.cf", "memcache = inet:127.0.0.1:11211\nkey_format = a:%s\n");
        d.File("b.cf", "memcache = inet:127.0.0.1:11211\nkey_format = b:%s\n");
        d.File("c.cf", "memcache = inet:127.0.0.1:11212\n");
        var (code, output) = RunToExit("--config", Ini(d, "[maps:a]\nconfig = a.cf\n[maps:b]\nconfig = b.cf\n[maps:c]\nconfig = c.cf\n"), "check");
        Assert.That(code, Is.EqualTo(0), output);
        Assert.That(output, Does.Not.Contain("warning"));
    }
}
